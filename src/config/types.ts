/**
 * Decoded configuration: sing-box's JSON keys, kept as they are (snake_case), with lenient
 * values normalised. The decoder in `decode.ts` produces these from JSON/JSONC; every other
 * module reads only these types.
 *
 * Normalisation rules (sing-box's lenient forms):
 * - "one value or a list" fields are always arrays here;
 * - durations ("5m", "10s", "300ms") are milliseconds;
 * - prefixes are {@linkcode Prefix}; addresses are {@linkcode Uint8Array} (4 or 16 bytes);
 * - marks (number or "0x...") are numbers;
 * - port ranges ("1000:2000", ":3000", "4000:") are {@linkcode PortRange}.
 *
 * Optional fields are absent when the JSON omits them; defaults are applied by the module that
 * uses the option (and documented there), so `format` and `merge` can reproduce the input.
 *
 * @module
 */

import type { Prefix } from "../net/ip.ts";
import type { InboundTlsOptions, TlsOptions } from "./decode_tls.ts";

export type { Prefix };

/** Inclusive port range. */
export interface PortRange {
  start: number;
  end: number;
}

/** Where an option came from, for messages that point at it after decoding. */
export interface SourceRef {
  /** File name as given on the command line, or "<stdin>". */
  file: string;
  /** 1-based line and column of the value. */
  line: number;
  column: number;
  /** JSON path, e.g. `route.rules[3].ip_cidr[0]`. */
  path: string;
}

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "panic";

export interface LogOptions {
  disabled?: boolean;
  level?: LogLevel;
  output?: string;
  timestamp?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Dial fields (shared by direct/socks/http outbounds and typed DNS servers)
// ---------------------------------------------------------------------------------------------

export interface DomainResolverOptions {
  server: string;
  strategy?: DomainStrategy;
  disable_cache?: boolean;
  rewrite_ttl?: number;
  client_subnet?: Prefix;
}

export type DomainStrategy = "" | "prefer_ipv4" | "prefer_ipv6" | "ipv4_only" | "ipv6_only";

export interface DialOptions {
  detour?: string;
  bind_interface?: string;
  inet4_bind_address?: Uint8Array;
  inet6_bind_address?: Uint8Array;
  bind_address_no_port?: boolean;
  routing_mark?: number;
  reuse_addr?: boolean;
  netns?: string;
  /** Milliseconds; sing-box default 5 s. */
  connect_timeout?: number;
  tcp_fast_open?: boolean;
  tcp_multi_path?: boolean;
  disable_tcp_keep_alive?: boolean;
  tcp_keep_alive?: number;
  tcp_keep_alive_interval?: number;
  udp_fragment?: boolean;
  domain_resolver?: DomainResolverOptions;
  /** Legacy (deprecated 1.12): kept so it can be warned about and honoured. */
  domain_strategy?: DomainStrategy;
  fallback_delay?: number;
}

// ---------------------------------------------------------------------------------------------
// Inbounds
// ---------------------------------------------------------------------------------------------

export type TunStack = "system" | "gvisor" | "mixed";

export interface TunInboundOptions extends UdpNatOptions {
  type: "tun";
  tag: string;
  interface_name?: string;
  /** Merged with the legacy `inet4_address`/`inet6_address` (warning) by the decoder. */
  address: Prefix[];
  mtu?: number;
  auto_route?: boolean;
  iproute2_table_index?: number;
  iproute2_rule_index?: number;
  auto_redirect?: boolean;
  auto_redirect_input_mark?: number;
  auto_redirect_output_mark?: number;
  auto_redirect_reset_mark?: number;
  auto_redirect_nfqueue?: number;
  auto_redirect_iproute2_fallback_rule_index?: number;
  /** sing-box 1.14 (Linux): the network namespace to create the TUN in. */
  netns?: string;
  exclude_mptcp?: boolean;
  loopback_address?: Uint8Array[];
  strict_route?: boolean;
  /** Merged with legacy `inet4_route_address`/`inet6_route_address`. */
  route_address: Prefix[];
  route_exclude_address: Prefix[];
  route_address_set: string[];
  route_exclude_address_set: string[];
  include_interface: string[];
  exclude_interface: string[];
  include_uid: PortRange[];
  exclude_uid: PortRange[];
  include_android_user: number[];
  include_package: string[];
  exclude_package: string[];
  include_mac_address: string[];
  exclude_mac_address: string[];
  endpoint_independent_nat?: boolean;
  /** Milliseconds; default 5 min. */
  udp_timeout?: number;
  /**
   * tunbox extension, milliseconds: how long start waits for local SOCKS/HTTP outbound servers
   * to accept a handshake before installing routes (default 5 s; 0 = do not wait).
   */
  proxy_ready_timeout?: number;
  stack?: TunStack;
  dns_mode?: "disabled" | "native" | "hijack";
  dns_address?: Uint8Array[];
  platform?: {
    http_proxy?: {
      enabled?: boolean;
      server?: string;
      server_port?: number;
      bypass_domain: string[];
      match_domain: string[];
    };
  };
  /** Legacy inbound fields (deprecated 1.11): upgraded into route rules by the decoder. */
  sniff?: boolean;
  sniff_override_destination?: boolean;
  sniff_timeout?: number;
  domain_strategy?: DomainStrategy;
  udp_disable_domain_unmapping?: boolean;
  gso?: boolean;
}

/** sing-box 1.14 UDP NAT fields (`shared/udp-nat.md`), besides `udp_timeout`. */
export interface UdpNatOptions {
  udp_mapping?: "endpoint_independent" | "address_dependent" | "address_and_port_dependent";
  udp_filtering?: "endpoint_independent" | "address_dependent" | "address_and_port_dependent";
  udp_nat_max?: number;
}

export interface InboundUser {
  username: string;
  password: string;
}

/** sing-box's listen fields (every listening inbound). */
export interface ListenFields extends UdpNatOptions {
  tag: string;
  listen: Uint8Array;
  listen_port?: number;
  tcp_fast_open?: boolean;
  tcp_multi_path?: boolean;
  udp_fragment?: boolean;
  /** Milliseconds. */
  udp_timeout?: number;
  detour?: string;
  bind_interface?: string;
  routing_mark?: number;
  reuse_addr?: boolean;
  netns?: string;
  disable_tcp_keep_alive?: boolean;
  /** Milliseconds. */
  tcp_keep_alive?: number;
  /** Milliseconds. */
  tcp_keep_alive_interval?: number;
  /** Legacy inbound fields (deprecated 1.11). */
  sniff?: boolean;
  sniff_override_destination?: boolean;
  sniff_timeout?: number;
  domain_strategy?: DomainStrategy;
  udp_disable_domain_unmapping?: boolean;
}

/**
 * `direct` inbound: a listening port whose connections (TCP) and datagrams (UDP, one session
 * per client address) go to `override_address`/`override_port`, routed like any inbound.
 */
export interface DirectInboundOptions extends ListenFields {
  type: "direct";
  /** Empty: both. */
  network: ("tcp" | "udp")[];
  override_address?: string;
  override_port?: number;
}

/**
 * `tproxy` inbound (Linux): transparent TCP and UDP listeners (`IP_TRANSPARENT`); the original
 * destination of each connection or datagram is the destination routed.
 */
export interface TproxyInboundOptions extends ListenFields {
  type: "tproxy";
  /** Empty: both. */
  network: ("tcp" | "udp")[];
}

/**
 * `redirect` inbound (Linux): a TCP listener for connections NAT redirected to it; the original
 * destination (`SO_ORIGINAL_DST`) of each is the destination routed.
 */
export interface RedirectInboundOptions extends ListenFields {
  type: "redirect";
}

/** `mixed`, `socks` and `http` listeners. */
export interface ListenerInboundOptions extends ListenFields {
  type: "mixed" | "socks" | "http";
  users: InboundUser[];
  set_system_proxy?: boolean;
  /** http and mixed: serve over TLS when `enabled`. */
  tls?: InboundTlsOptions;
}

export type InboundOptions =
  | TunInboundOptions
  | ListenerInboundOptions
  | DirectInboundOptions
  | TproxyInboundOptions
  | RedirectInboundOptions;

// ---------------------------------------------------------------------------------------------
// Outbounds
// ---------------------------------------------------------------------------------------------

export interface DirectOutboundOptions extends DialOptions {
  type: "direct";
  tag: string;
  /** Deprecated 1.11 (error in sing-box 1.13); tunbox upgrades to route-options with a warning. */
  override_address?: string;
  override_port?: number;
}

export interface SocksOutboundOptions extends DialOptions {
  type: "socks";
  tag: string;
  server: string;
  server_port: number;
  version?: "4" | "4a" | "5";
  username?: string;
  password?: string;
  network?: "tcp" | "udp";
  udp_over_tcp?: { enabled: boolean; version?: number };
}

export interface HttpOutboundOptions extends DialOptions {
  type: "http";
  tag: string;
  server: string;
  server_port: number;
  username?: string;
  password?: string;
  path?: string;
  headers: Record<string, string[]>;
  tls?: TlsOptions;
}

export interface BlockOutboundOptions {
  type: "block";
  tag: string;
}

/** Legacy `dns` outbound (removed in sing-box 1.13); upgraded to hijack-dns with a warning. */
export interface DnsOutboundOptions {
  type: "dns";
  tag: string;
}

export interface SelectorOutboundOptions {
  type: "selector";
  tag: string;
  outbounds: string[];
  default?: string;
  interrupt_exist_connections?: boolean;
}

export interface UrlTestOutboundOptions {
  type: "urltest";
  tag: string;
  outbounds: string[];
  url?: string;
  interval?: number;
  tolerance?: number;
  idle_timeout?: number;
  interrupt_exist_connections?: boolean;
}

/** `multiplex` (sing-box `shared/multiplex.md`, outbound fields). */
export interface MultiplexOptions {
  enabled?: boolean;
  protocol?: "smux" | "yamux" | "h2mux";
  max_connections?: number;
  min_streams?: number;
  max_streams?: number;
  padding?: boolean;
}

/** sing-box `outbound/shadowsocks.md`. */
export interface ShadowsocksOutboundOptions extends DialOptions {
  type: "shadowsocks";
  tag: string;
  server: string;
  server_port: number;
  method: string;
  password?: string;
  plugin?: string;
  plugin_opts?: string;
  network?: "tcp" | "udp";
  udp_over_tcp?: { enabled: boolean; version?: number };
  multiplex?: MultiplexOptions;
}

/** V2Ray transports (sing-box `shared/v2ray-transport.md`). */
export type V2rayTransportOptions =
  | {
    type: "ws";
    path?: string;
    headers: Record<string, string[]>;
    max_early_data?: number;
    early_data_header_name?: string;
  }
  | {
    type: "http";
    host: string[];
    path?: string;
    method?: string;
    headers: Record<string, string[]>;
    /** Milliseconds. */
    idle_timeout?: number;
    /** Milliseconds. */
    ping_timeout?: number;
  }
  | { type: "httpupgrade"; host?: string; path?: string; headers: Record<string, string[]> }
  | {
    type: "grpc";
    service_name?: string;
    idle_timeout?: number;
    ping_timeout?: number;
    permit_without_stream?: boolean;
  }
  | { type: "quic" };

/** How VMess and VLESS carry UDP (`packet_encoding`). */
export type PacketEncoding = "" | "packetaddr" | "xudp";

/** sing-box `outbound/vmess.md`. */
export interface VmessOutboundOptions extends DialOptions {
  type: "vmess";
  tag: string;
  server: string;
  server_port: number;
  uuid: string;
  security?: "auto" | "none" | "zero" | "aes-128-gcm" | "chacha20-poly1305" | "aes-128-ctr";
  alter_id?: number;
  global_padding?: boolean;
  authenticated_length?: boolean;
  network?: "tcp" | "udp";
  tls?: TlsOptions;
  packet_encoding?: PacketEncoding;
  transport?: V2rayTransportOptions;
  multiplex?: MultiplexOptions;
}

/** sing-box `outbound/vless.md`. */
export interface VlessOutboundOptions extends DialOptions {
  type: "vless";
  tag: string;
  server: string;
  server_port: number;
  uuid: string;
  flow?: string;
  network?: "tcp" | "udp";
  tls?: TlsOptions;
  packet_encoding?: PacketEncoding;
  transport?: V2rayTransportOptions;
  multiplex?: MultiplexOptions;
}

/** sing-box `outbound/trojan.md`. */
export interface TrojanOutboundOptions extends DialOptions {
  type: "trojan";
  tag: string;
  server: string;
  server_port: number;
  password: string;
  network?: "tcp" | "udp";
  tls?: TlsOptions;
  transport?: V2rayTransportOptions;
  multiplex?: MultiplexOptions;
}

/** One WireGuard peer (endpoint `peers[]`; the legacy outbound's single peer is one too). */
export interface WireguardPeerOptions {
  /** Endpoint address (IP or domain); the endpoint form's `address`, the legacy `server`. */
  address: string;
  port: number;
  /** Base64, 32 bytes. */
  public_key: string;
  pre_shared_key?: string;
  allowed_ips: Prefix[];
  /** Seconds. */
  persistent_keepalive_interval?: number;
  /** Three bytes. */
  reserved?: number[];
}

/**
 * A WireGuard endpoint (sing-box 1.11 `endpoints`) or legacy `wireguard` outbound, in one shape:
 * the endpoint's field names; `legacy` tells which form it was written in.
 */
export interface WireguardOutboundOptions extends DialOptions {
  type: "wireguard";
  tag: string;
  /** Interface addresses (the legacy `local_address`). */
  address: Prefix[];
  private_key: string;
  peers: WireguardPeerOptions[];
  mtu?: number;
  system?: boolean;
  name?: string;
  listen_port?: number;
  /** Milliseconds. */
  udp_timeout?: number;
  workers?: number;
  network?: "tcp" | "udp";
  legacy?: boolean;
}

export type OutboundOptions =
  | ShadowsocksOutboundOptions
  | WireguardOutboundOptions
  | VmessOutboundOptions
  | VlessOutboundOptions
  | TrojanOutboundOptions
  | DirectOutboundOptions
  | SocksOutboundOptions
  | HttpOutboundOptions
  | BlockOutboundOptions
  | DnsOutboundOptions
  | SelectorOutboundOptions
  | UrlTestOutboundOptions;

// ---------------------------------------------------------------------------------------------
// Route
// ---------------------------------------------------------------------------------------------

export type Network = "tcp" | "udp" | "icmp";

export interface RouteOptionsFields {
  override_address?: string;
  override_port?: number;
  network_strategy?: string;
  fallback_delay?: number;
  udp_disable_domain_unmapping?: boolean;
  udp_connect?: boolean;
  udp_timeout?: number;
  tls_fragment?: boolean;
  tls_fragment_fallback_delay?: number;
  tls_record_fragment?: boolean;
}

export type RuleAction =
  | ({ action: "route"; outbound: string } & RouteOptionsFields)
  | ({ action: "route-options" } & RouteOptionsFields)
  | { action: "reject"; method: "default" | "drop" | "reply"; no_drop?: boolean }
  | { action: "hijack-dns" }
  | { action: "bypass"; outbound?: string }
  | { action: "sniff"; sniffer: string[]; timeout?: number }
  | {
    action: "resolve";
    server?: string;
    strategy?: DomainStrategy;
    disable_cache?: boolean;
    rewrite_ttl?: number;
    client_subnet?: Prefix;
  };

/** Matching fields of a default (non-logical) rule. Empty lists mean "not set". */
export interface RuleMatch {
  inbound: string[];
  ip_version?: 4 | 6;
  /** `""` is kept as sing-box keeps it: an item no connection matches (its network is never ""). */
  network: (Network | "")[];
  auth_user: string[];
  protocol: string[];
  client: string[];
  domain: string[];
  domain_suffix: string[];
  domain_keyword: string[];
  domain_regex: string[];
  geosite: string[];
  source_geoip: string[];
  geoip: string[];
  source_ip_cidr: Prefix[];
  source_ip_is_private?: boolean;
  ip_cidr: Prefix[];
  ip_is_private?: boolean;
  source_port: number[];
  source_port_range: PortRange[];
  port: number[];
  port_range: PortRange[];
  process_name: string[];
  process_path: string[];
  process_path_regex: string[];
  package_name: string[];
  /** sing-box 1.14: Android package names by regular expression. */
  package_name_regex: string[];
  user: string[];
  user_id: number[];
  clash_mode?: string;
  network_type: string[];
  network_is_expensive?: boolean;
  network_is_constrained?: boolean;
  wifi_ssid: string[];
  wifi_bssid: string[];
  interface_address: Record<string, Prefix[]>;
  network_interface_address: Record<string, Prefix[]>;
  default_interface_address: Prefix[];
  preferred_by: string[];
  source_mac_address: string[];
  source_hostname: string[];
  rule_set: string[];
  rule_set_ip_cidr_match_source?: boolean;
  invert?: boolean;
}

export interface DefaultRule extends RuleMatch {
  type: "default";
  /** The rule's action; `outbound` alone (legacy shorthand) decodes to `{action:"route"}`. */
  action: RuleAction;
  /** Where the rule is in the config, for logs ("rule[3]") and warnings. */
  source?: SourceRef;
}

export interface LogicalRule {
  type: "logical";
  mode: "and" | "or";
  rules: Rule[];
  invert?: boolean;
  action: RuleAction;
  source?: SourceRef;
}

export type Rule = DefaultRule | LogicalRule;

/**
 * A rule of a rule-set (sing-box `option.DefaultHeadlessRule`), values as written in the source
 * format: CIDRs and port ranges stay strings (checked when decoded), `query_type` holds names
 * or numbers.
 */
export interface HeadlessDefaultRule {
  type: "default";
  query_type: (string | number)[];
  network: string[];
  domain: string[];
  domain_suffix: string[];
  domain_keyword: string[];
  domain_regex: string[];
  source_ip_cidr: string[];
  ip_cidr: string[];
  source_port: number[];
  source_port_range: string[];
  port: number[];
  port_range: string[];
  process_name: string[];
  process_path: string[];
  process_path_regex: string[];
  package_name: string[];
  /** sing-box 1.14 (rule-set version 5): Android package names by regular expression. */
  package_name_regex: string[];
  network_type: string[];
  network_is_expensive?: boolean;
  network_is_constrained?: boolean;
  wifi_ssid: string[];
  wifi_bssid: string[];
  /** Interface type (`wifi`, `cellular`, `ethernet`, `other`) → prefixes, in written order. */
  network_interface_address: [string, string[]][];
  default_interface_address: string[];
  invert?: boolean;
  source?: SourceRef;
}

/** A logical rule of a rule-set (sing-box `option.LogicalHeadlessRule`). */
export interface HeadlessLogicalRule {
  type: "logical";
  mode: "and" | "or";
  rules: HeadlessRule[];
  invert?: boolean;
  source?: SourceRef;
}

export type HeadlessRule = HeadlessDefaultRule | HeadlessLogicalRule;

export interface RuleSetOptions {
  type: "inline" | "local" | "remote";
  tag: string;
  /** Local and remote sets: given, or taken from the path's or URL's extension. */
  format?: "source" | "binary";
  path?: string;
  url?: string;
  download_detour?: string;
  /** sing-box 1.14: an `http_clients` tag or an inline HTTP client. */
  http_client?: string | HttpClientOptions;
  /** sing-box 1.14: content to start from until the first download. */
  initial_path?: string;
  update_interval?: number;
  /** Inline rule-sets carry headless rules (match fields only). */
  rules: HeadlessRule[];
  /** Where the set's file is named (`path`, `url`), else the entry: problems are reported here. */
  source?: SourceRef;
}

export interface RouteOptions {
  rules: Rule[];
  rule_set: RuleSetOptions[];
  final?: string;
  auto_detect_interface?: boolean;
  override_android_vpn?: boolean;
  default_interface?: string;
  default_mark?: number;
  find_process?: boolean;
  default_domain_resolver?: DomainResolverOptions;
  default_network_strategy?: string;
  /** sing-box 1.14: tag of the `http_clients` entry used by default. */
  default_http_client?: string;
}

// ---------------------------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------------------------

export type DnsServerType =
  | "local"
  | "hosts"
  | "udp"
  | "tcp"
  | "tls"
  | "quic"
  | "https"
  | "h3"
  | "dhcp"
  | "fakeip"
  | "resolved"
  | "tailscale";

/** A DNS server in the 1.12 typed form (legacy `address` servers are upgraded into this). */
export interface DnsServerOptions extends DialOptions {
  type: DnsServerType;
  tag: string;
  server?: string;
  server_port?: number;
  path?: string;
  /** `https` servers: `POST` (default) or `GET`. */
  method?: "GET" | "POST";
  headers: Record<string, string[]>;
  interface?: string;
  inet4_range?: Prefix;
  inet6_range?: Prefix;
  hosts_path: string[];
  predefined: Record<string, string[]>;
  prefer_go?: boolean;
  tls?: TlsOptions;
  /** Legacy per-server fields. */
  address_resolver?: string;
  address_strategy?: DomainStrategy;
  strategy?: DomainStrategy;
  client_subnet?: Prefix;
  /** True when this server was written in the legacy `address` form (its default detour differs). */
  legacy?: boolean;
  source?: SourceRef;
}

export type DnsRuleAction =
  | {
    action: "route";
    server: string;
    strategy?: DomainStrategy;
    disable_cache?: boolean;
    rewrite_ttl?: number;
    client_subnet?: Prefix;
  }
  | {
    action: "route-options";
    disable_cache?: boolean;
    rewrite_ttl?: number;
    client_subnet?: Prefix;
  }
  | { action: "reject"; method: "default" | "drop"; no_drop?: boolean }
  | { action: "predefined"; rcode: string; answer: string[]; ns: string[]; extra: string[] };

export interface DnsRuleMatch extends RuleMatch {
  query_type: (string | number)[];
  ip_accept_any?: boolean;
  rule_set_ip_cidr_accept_empty?: boolean;
  outbound: string[];
}

export interface DnsDefaultRule extends DnsRuleMatch {
  type: "default";
  action: DnsRuleAction;
  source?: SourceRef;
}

export interface DnsLogicalRule {
  type: "logical";
  mode: "and" | "or";
  rules: DnsRule[];
  invert?: boolean;
  action: DnsRuleAction;
  source?: SourceRef;
}

export type DnsRule = DnsDefaultRule | DnsLogicalRule;

export interface DnsOptions {
  servers: DnsServerOptions[];
  rules: DnsRule[];
  final?: string;
  strategy?: DomainStrategy;
  disable_cache?: boolean;
  disable_expire?: boolean;
  independent_cache?: boolean;
  cache_capacity?: number;
  /** sing-box 1.14: how long one query to a server may take, in ms (10 s when unset). */
  timeout?: number;
  reverse_mapping?: boolean;
  client_subnet?: Prefix;
  /** Legacy `dns.fakeip` block (deprecated 1.12). */
  fakeip?: { enabled?: boolean; inet4_range?: Prefix; inet6_range?: Prefix };
}

// ---------------------------------------------------------------------------------------------
// Experimental
// ---------------------------------------------------------------------------------------------

export interface ClashApiOptions {
  external_controller?: string;
  external_ui?: string;
  external_ui_download_url?: string;
  external_ui_download_detour?: string;
  secret?: string;
  default_mode?: string;
  access_control_allow_origin: string[];
  access_control_allow_private_network?: boolean;
}

export interface CacheFileOptions {
  enabled?: boolean;
  path?: string;
  cache_id?: string;
  store_fakeip?: boolean;
  store_rdrc?: boolean;
  rdrc_timeout?: number;
  /** sing-box 1.14: persist the DNS cache. */
  store_dns?: boolean;
}

// ---------------------------------------------------------------------------------------------
// NTP, certificates, endpoints, services, HTTP clients (decoded; see support.ts for what runs)
// ---------------------------------------------------------------------------------------------

/** `ntp`: sing-box's SNTP client (`option/ntp.go`). */
export interface NtpOptions extends DialOptions {
  enabled?: boolean;
  server?: string;
  /** Default 123. */
  server_port?: number;
  /** Milliseconds; default 30 min. */
  interval?: number;
  write_to_system?: boolean;
}

/** `certificate`: the trust store for TLS clients (`option/certificate.go`). */
export interface CertificateOptions {
  /** `""` reads as `"system"`, as in sing-box. */
  store: "system" | "mozilla" | "chrome" | "none";
  certificate: string[];
  certificate_path: string[];
  certificate_directory_path: string[];
}

/** An `endpoints` entry (wireguard, tailscale): a typed, tagged outbound-like object. */
export interface EndpointOptions {
  type: string;
  tag: string;
  /** A WireGuard endpoint as the outbound it is at run time (also in `outbounds`). */
  outbound?: WireguardOutboundOptions;
}

/** A `services` entry (derp, resolved, ssm-api, ...). */
export interface ServiceOptions {
  type: string;
  tag: string;
}

/** An `http_clients` entry (sing-box 1.14), or an inline `http_client` object. */
export interface HttpClientOptions extends DialOptions {
  tag: string;
  engine?: string;
  version?: number;
  disable_version_fallback?: boolean;
  headers: Record<string, string[]>;
  tls?: TlsOptions;
}

export interface ExperimentalOptions {
  clash_api?: ClashApiOptions;
  cache_file?: CacheFileOptions;
}

// ---------------------------------------------------------------------------------------------
// Root
// ---------------------------------------------------------------------------------------------

export interface Options {
  log: LogOptions;
  dns: DnsOptions;
  ntp?: NtpOptions;
  certificate?: CertificateOptions;
  endpoints: EndpointOptions[];
  inbounds: InboundOptions[];
  outbounds: OutboundOptions[];
  route: RouteOptions;
  services: ServiceOptions[];
  /** sing-box 1.14 shared HTTP clients, by tag. */
  http_clients: HttpClientOptions[];
  experimental: ExperimentalOptions;
}
