/**
 * What tunbox does with each sing-box feature: one verdict per feature, decided here and nowhere
 * else. The decoder reports a feature's verdict at the feature's line and column (so `check`
 * prints it), `run` prints the same diagnostics before it starts, and the runtime asks
 * {@linkcode isSupported} where it must choose between doing the thing and not doing it (a rule
 * item that never matches, a DNS server type it cannot build). The README's support table is
 * generated from {@linkcode FEATURES} (`scripts/support_table.ts`).
 *
 * A verdict is one of:
 * - `supported`: tunbox does what sing-box does (nothing is reported);
 * - `warning`: the config runs, and the warning says what tunbox does instead (the feature is
 *   ignored, a rule item never matches, ...);
 * - `error`: the config does not run; the error says what to use instead.
 *
 * To declare that a feature now works, change its `level` to `"supported"` in
 * {@linkcode FEATURES} (one line), and make the runtime do it.
 *
 * ```ts
 * if (!isSupported("rule.process_name")) neverMatches();
 * ctx.support("dns.server.https", node, path); // reports the verdict at the node
 * ```
 *
 * @module
 */

/** How tunbox handles a feature. */
export type Level = "supported" | "warning" | "error";

/** One sing-box feature and tunbox's verdict on it. */
export interface Feature {
  /** `supported`, `warning` (runs, with the note) or `error` (refused, with the note). */
  readonly level: Level;
  /** What the user wrote, as the message names it: `outbound type "vmess"`, `"process_name"`. */
  readonly name: string;
  /**
   * For warnings and errors: the rest of the sentence after `name`, saying what tunbox does
   * instead (`never matches in tunbox (process lookup is not implemented)`).
   */
  readonly note?: string;
  /** Operating systems where the verdict holds; elsewhere the feature is an error. */
  readonly os?: readonly string[];
  /** The verdict on the other operating systems instead of an error (with `os`). */
  readonly elsewhere?: { readonly level: "warning"; readonly note: string };
}

/**
 * What tunbox does with an outbound it cannot build: leaves it out (so the rest of the config
 * runs); a rule, `final` or `detour` that uses it is an error, groups skip it with a warning.
 */
export const LEFT_OUT = "the outbound is left out (rules and detours must not use it; groups " +
  "skip it)";

const PROXY_CLIENT = "run its client locally (sing-box, xray, v2ray, ss-local...) " +
  'and point a "socks" outbound at it';
const NEVER = "never matches in tunbox";
/**
 * Where `Platform.findProcess` exists: Linux (sock_diag and /proc) and macOS (the pcblist_n
 * sysctls and proc_pidpath).
 */
const PROCESS_LOOKUP_OS = ["linux", "darwin"] as const;
const GUI_ONLY = "is only used by sing-box's graphical clients; tunbox ignores it";
const NO_RESPONSE_MATCH = "DNS rules cannot act on a server's response (sing-box 1.14's " +
  '"evaluate", "match_response" and "respond"); route these queries with "route" actions instead';
const GEO_HINT = "geoip/geosite databases were removed in sing-box 1.12.0; convert them to rule " +
  "sets (`tunbox rule-set convert`, or sing-box's `geoip export`/`geosite export`) and use " +
  '"rule_set" instead';

/**
 * Every sing-box feature tunbox knows, by id. Ids are `<area>.<key>`: `outbound.<type>`,
 * `inbound.<type>`, `dns.server.<type>`, `rule_set.<type>`, `rule.<match field>`,
 * `sniff.<protocol>`, `tls.<field>`, `tun.<field>`, `section.<top-level key>`, ...
 *
 * Keep one feature per line where it fits: flipping a verdict is changing `level`.
 */
export const FEATURES = {
  // ── Top-level sections ────────────────────────────────────────────────────────────────────
  "section.log": { level: "supported", name: '"log"' },
  "section.dns": { level: "supported", name: '"dns"' },
  "section.inbounds": { level: "supported", name: '"inbounds"' },
  "section.outbounds": { level: "supported", name: '"outbounds"' },
  "section.route": { level: "supported", name: '"route"' },
  "section.experimental": { level: "supported", name: '"experimental"' },
  "section.ntp": { level: "supported", name: '"ntp"' },
  "section.certificate": { level: "supported", name: '"certificate"' },
  "certificate.store_chrome": {
    level: "warning",
    name: 'certificate store "chrome"',
    note: "is not bundled in tunbox; Mozilla's root store (bundled) is used instead",
  },
  "section.certificate_providers": {
    level: "warning",
    name: '"certificate_providers"',
    note: "is for TLS servers, which tunbox does not run; ignored",
  },
  "section.endpoints": { level: "supported", name: '"endpoints"' },
  "section.services": {
    level: "warning",
    name: '"services"',
    note: "are not run by tunbox (it runs no servers); ignored",
  },
  "section.http_clients": {
    level: "warning",
    name: "an HTTP client's TLS, headers, version, engine and dial fields other than detour",
    note: 'are ignored by tunbox: rule-set downloads use only its "detour"',
  },

  // ── Inbounds ──────────────────────────────────────────────────────────────────────────────
  "inbound.tun": { level: "supported", name: 'inbound type "tun"' },
  "inbound.mixed": { level: "supported", name: 'inbound type "mixed"' },
  "inbound.socks": { level: "supported", name: 'inbound type "socks"' },
  "inbound.http": { level: "supported", name: 'inbound type "http"' },
  "inbound.direct": { level: "supported", name: 'inbound type "direct"' },
  "inbound.tproxy": { level: "supported", name: 'inbound type "tproxy"', os: ["linux"] },
  "inbound.redirect": { level: "supported", name: 'inbound type "redirect"', os: ["linux"] },
  "inbound.shadowsocks": serverInbound("shadowsocks"),
  "inbound.vmess": serverInbound("vmess"),
  "inbound.trojan": serverInbound("trojan"),
  "inbound.naive": serverInbound("naive"),
  "inbound.hysteria": serverInbound("hysteria"),
  "inbound.shadowtls": serverInbound("shadowtls"),
  "inbound.vless": serverInbound("vless"),
  "inbound.tuic": serverInbound("tuic"),
  "inbound.hysteria2": serverInbound("hysteria2"),
  "inbound.anytls": serverInbound("anytls"),
  "inbound.cloudflared": serverInbound("cloudflared"),

  // ── TUN inbound fields ────────────────────────────────────────────────────────────────────
  // sing-box's nftables redirect is a speed-up on top of auto_route, which captures the same
  // traffic; auto_redirect without auto_route is refused as sing-box refuses it (validate.ts).
  "tun.auto_redirect": {
    level: "warning",
    os: ["linux"],
    name: '"auto_redirect"',
    note: "is not built: auto_route captures the traffic without it",
  },
  // The sets' ip_cidr rules become routes (src/ruleset/tun_routes.ts), changed in place when a
  // set changes.
  "tun.route_address_set": { level: "supported", name: '"route_address_set"' },
  "tun.route_exclude_address_set": { level: "supported", name: '"route_exclude_address_set"' },
  "tun.platform": { level: "warning", name: '"platform"', note: GUI_ONLY },
  "tun.include_android_user": {
    level: "warning",
    name: '"include_android_user"',
    note: "only applies on Android; tunbox ignores it",
  },
  "tun.include_package": {
    level: "warning",
    name: '"include_package"',
    note: "only applies on Android; tunbox ignores it",
  },
  "tun.exclude_package": {
    level: "warning",
    name: '"exclude_package"',
    note: "only applies on Android; tunbox ignores it",
  },
  "tun.include_mac_address": {
    level: "warning",
    name: '"include_mac_address"',
    note: "is not implemented in tunbox yet; ignored",
  },
  "tun.exclude_mac_address": {
    level: "warning",
    name: '"exclude_mac_address"',
    note: "is not implemented in tunbox yet; ignored",
  },
  "tun.dns_mode": {
    level: "warning",
    name: '"dns_mode"',
    note: "sets the system resolver on macOS only; on Linux systemd-resolved is left as it " +
      "is (queries to the TUN's DNS address are answered by tunbox on both)",
  },
  "tun.loopback_address": {
    level: "warning",
    name: '"loopback_address"',
    note: "is not implemented in tunbox yet; ignored",
  },

  "tun.netns": {
    level: "error",
    os: ["linux"],
    name: '"netns"',
    note: "is not implemented in tunbox yet; run tunbox inside the namespace instead " +
      "(ip netns exec NAME tunbox run ...)",
  },
  "udp_nat.udp_mapping": {
    level: "warning",
    name: '"udp_mapping"',
    note: 'other than "endpoint_independent" is not implemented in tunbox; UDP sessions use ' +
      "endpoint-independent mapping",
  },
  "udp_nat.udp_filtering": {
    level: "warning",
    name: '"udp_filtering"',
    note: 'other than "endpoint_independent" is not implemented in tunbox; UDP sessions ' +
      "accept replies from any remote endpoint",
  },
  "udp_nat.udp_nat_max": {
    level: "warning",
    name: '"udp_nat_max"',
    note: "is not implemented in tunbox yet; UDP sessions end only by udp_timeout",
  },

  // ── Listener inbound fields (mixed, socks, http, direct, tproxy) ──────────────────────────
  "listen.set_system_proxy": {
    level: "warning",
    name: '"set_system_proxy"',
    note: "is not implemented in tunbox; set the system proxy yourself",
  },
  // Applied by src/inbound/listen_socket.ts.
  "listen.tcp_fast_open": {
    level: "supported",
    name: '"tcp_fast_open"',
    os: ["linux"],
    elsewhere: { level: "warning", note: "is ignored for listening inbounds on macOS" },
  },
  "listen.tcp_multi_path": listenField("tcp_multi_path"),
  "listen.udp_fragment": listenField("udp_fragment"),
  "listen.bind_interface": { level: "supported", name: '"bind_interface"' },
  "listen.routing_mark": {
    level: "supported",
    name: '"routing_mark"',
    os: ["linux"],
    elsewhere: { level: "warning", note: "is ignored on macOS, which has no routing marks" },
  },
  "listen.reuse_addr": { level: "supported", name: '"reuse_addr"' },
  "listen.netns": listenField("netns"),
  "listen.disable_tcp_keep_alive": { level: "supported", name: '"disable_tcp_keep_alive"' },
  "listen.tcp_keep_alive": { level: "supported", name: '"tcp_keep_alive"' },
  "listen.tcp_keep_alive_interval": { level: "supported", name: '"tcp_keep_alive_interval"' },
  "listen.tls": { level: "supported", name: '"tls" in a listening inbound' },
  "listen.detour": {
    level: "warning",
    name: 'inbound "detour"',
    note: "is not implemented in tunbox; connections are routed by the rules",
  },

  // ── Outbounds ─────────────────────────────────────────────────────────────────────────────
  "outbound.direct": { level: "supported", name: 'outbound type "direct"' },
  "outbound.socks": { level: "supported", name: 'outbound type "socks"' },
  "outbound.http": { level: "supported", name: 'outbound type "http"' },
  "outbound.block": { level: "supported", name: 'outbound type "block"' },
  "outbound.dns": { level: "supported", name: 'outbound type "dns"' },
  "outbound.selector": { level: "supported", name: 'outbound type "selector"' },
  "outbound.urltest": { level: "supported", name: 'outbound type "urltest"' },
  "outbound.shadowsocks": { level: "supported", name: 'outbound type "shadowsocks"' },
  "outbound.vmess": { level: "supported", name: 'outbound type "vmess"' },
  "outbound.vless": { level: "supported", name: 'outbound type "vless"' },
  "outbound.trojan": { level: "supported", name: 'outbound type "trojan"' },
  "outbound.wireguard": { level: "supported", name: 'outbound type "wireguard"' },
  "outbound.hysteria": proxyOutbound("hysteria"),
  "outbound.hysteria2": proxyOutbound("hysteria2"),
  "outbound.tuic": proxyOutbound("tuic"),
  "outbound.shadowtls": proxyOutbound("shadowtls"),
  "outbound.anytls": proxyOutbound("anytls"),
  "outbound.naive": proxyOutbound("naive"),
  "outbound.ssh": proxyOutbound("ssh"),
  "outbound.tor": proxyOutbound("tor"),
  "outbound.shadowsocksr": proxyOutbound("shadowsocksr"),
  "outbound.http.tls": { level: "supported", name: '"tls" in an http outbound' },
  "outbound.shadowsocks.plugin": {
    level: "error",
    name: '"plugin" in a shadowsocks outbound',
    note: "is not implemented in tunbox; run ss-local with the plugin and point a " +
      '"socks" outbound at it',
  },
  "outbound.shadowsocks.udp_over_tcp": {
    level: "error",
    name: '"udp_over_tcp" in a shadowsocks outbound',
    note: "is a sing-box protocol that other shadowsocks servers do not speak, and tunbox " +
      "does not implement it; remove it (UDP then goes over shadowsocks UDP)",
  },
  "outbound.multiplex": {
    level: "warning",
    name: '"multiplex"',
    note: "(sing-box's smux/yamux/h2mux multiplexing, which needs a sing-box server) is not " +
      "implemented in tunbox yet and is ignored: each connection uses its own server " +
      "connection, which sing-box servers accept too",
  },
  "outbound.shadowsocks.method.aes-192-gcm": {
    level: "error",
    name: 'shadowsocks method "aes-192-gcm"',
    note: 'is not implemented in tunbox yet; use "aes-128-gcm" or "aes-256-gcm"',
  },
  "outbound.shadowsocks.method.xchacha20-ietf-poly1305": {
    level: "error",
    name: 'shadowsocks method "xchacha20-ietf-poly1305"',
    note: 'is not implemented in tunbox yet; use "chacha20-ietf-poly1305"',
  },
  "outbound.shadowsocks.method.stream": {
    level: "error",
    name: "shadowsocks stream ciphers (aes-*-ctr, aes-*-cfb, rc4-md5, chacha20-ietf, xchacha20)",
    note: "are insecure, deprecated by shadowsocks, and not implemented in tunbox; use " +
      '"2022-blake3-aes-128-gcm", "aes-128-gcm" or "chacha20-ietf-poly1305"',
  },
  "outbound.reality": {
    level: "warning",
    name: '"reality" in tls',
    note: `is not implemented in tunbox (REALITY needs its own handshake); ${LEFT_OUT}. To use ` +
      `it, ${PROXY_CLIENT}`,
  },
  "outbound.vless.flow": {
    level: "warning",
    name: 'VLESS flow "xtls-rprx-vision"',
    note: `is not implemented in tunbox yet; ${LEFT_OUT}. Remove "flow" if the server accepts ` +
      `clients without one, or ${PROXY_CLIENT}`,
  },
  "outbound.vmess.alter_id": {
    level: "error",
    name: '"alter_id" above 0',
    note: "(legacy VMess with MD5 authentication) is not implemented in tunbox; set it to 0 " +
      "(VMess AEAD, which V2Ray 4.28+ and Xray servers accept)",
  },
  "outbound.vmess.security.aes-128-ctr": {
    level: "error",
    name: 'VMess security "aes-128-ctr"',
    note: 'is legacy and not implemented in tunbox; use "auto", "aes-128-gcm", ' +
      '"chacha20-poly1305" or "none"',
  },
  "outbound.packet_encoding.packetaddr": {
    level: "warning",
    name: 'packet_encoding "packetaddr"',
    note: "is not implemented in tunbox yet; UDP uses one connection per destination, which " +
      "V2Ray, Xray and sing-box servers accept",
  },
  "outbound.packet_encoding.xudp": {
    level: "warning",
    name: 'packet_encoding "xudp"',
    note: "is not implemented in tunbox yet; UDP uses one connection per destination, which " +
      "V2Ray, Xray and sing-box servers accept",
  },
  "transport.ws": { level: "supported", name: 'V2Ray transport "ws"' },
  "transport.http": { level: "supported", name: 'V2Ray transport "http"' },
  "transport.http.plain": {
    level: "warning",
    name: 'V2Ray transport "http" without "tls"',
    note: "(sing-box's plain HTTP/1.1 form, which only sing-box servers speak) is not " +
      `implemented in tunbox; ${LEFT_OUT}. Enable "tls" (V2Ray and Xray serve the http ` +
      'transport as HTTP/2 over TLS) or use "ws"',
  },
  "transport.httpupgrade": {
    level: "warning",
    name: 'V2Ray transport "httpupgrade"',
    note: `is not implemented in tunbox yet; ${LEFT_OUT}. Use "ws", "http" or no transport ` +
      "if the server offers one",
  },
  "transport.grpc": {
    level: "warning",
    name: 'V2Ray transport "grpc"',
    note: `is not implemented in tunbox yet; ${LEFT_OUT}. Use "ws", "http" or no transport ` +
      "if the server offers one",
  },
  "transport.quic": {
    level: "warning",
    name: 'V2Ray transport "quic"',
    note: `is not implemented in tunbox; ${LEFT_OUT}. Use "ws", "http" or no transport if ` +
      "the server offers one",
  },
  "outbound.socks.udp_over_tcp": {
    level: "error",
    name: '"udp_over_tcp"',
    note: "is a sing-box protocol that Xray/V2Ray servers do not speak, and tunbox does not " +
      "implement it; remove it (UDP then uses SOCKS5 UDP ASSOCIATE)",
  },

  // ── Endpoints ─────────────────────────────────────────────────────────────────────────────
  "endpoint.wireguard": { level: "supported", name: 'endpoint type "wireguard"' },
  "endpoint.wireguard.system": {
    level: "warning",
    name: '"system" in a WireGuard endpoint',
    note: "is ignored: tunbox runs WireGuard in user space through its own TCP/IP stack (no " +
      "kernel interface is created)",
  },
  "endpoint.tailscale": {
    level: "error",
    name: 'endpoint type "tailscale"',
    note: "is not implemented in tunbox; run tailscaled and route its range direct",
  },

  // ── Dial fields ───────────────────────────────────────────────────────────────────────────
  "dial.netns": {
    level: "warning",
    name: '"netns"',
    note: "is not implemented in tunbox yet; connections are made in tunbox's own namespace",
  },
  "dial.tcp_multi_path": {
    level: "warning",
    name: '"tcp_multi_path"',
    note: "is not implemented in tunbox yet; plain TCP is used",
  },
  "dial.udp_fragment": {
    level: "warning",
    name: '"udp_fragment"',
    note: "is not implemented in tunbox yet; ignored",
  },
  "dial.network_strategy": { level: "warning", name: '"network_strategy"', note: GUI_ONLY },
  "dial.network_type": { level: "warning", name: '"network_type"', note: GUI_ONLY },
  "dial.fallback_network_type": {
    level: "warning",
    name: '"fallback_network_type"',
    note: GUI_ONLY,
  },
  "dial.protect_path": { level: "warning", name: '"protect_path"', note: GUI_ONLY },

  // ── TLS (outbound) ────────────────────────────────────────────────────────────────────────
  "tls.enabled": { level: "supported", name: '"enabled" in tls' },
  "tls.server_name": { level: "supported", name: '"server_name" in tls' },
  "tls.insecure": { level: "supported", name: '"insecure" in tls' },
  "tls.disable_sni": { level: "supported", name: '"disable_sni" in tls' },
  "tls.alpn": { level: "supported", name: '"alpn" in tls' },
  "tls.min_version": { level: "supported", name: '"min_version" in tls' },
  "tls.max_version": { level: "supported", name: '"max_version" in tls' },
  "tls.cipher_suites": tlsIgnored("cipher_suites", "rustls offers its own suites"),
  "tls.curve_preferences": tlsIgnored("curve_preferences", "rustls offers its own groups"),
  "tls.certificate": { level: "supported", name: '"certificate" in tls' },
  "tls.certificate_path": { level: "supported", name: '"certificate_path" in tls' },
  "tls.certificate_public_key_sha256": {
    level: "supported",
    name: '"certificate_public_key_sha256" in tls',
  },
  "tls.client_certificate": { level: "supported", name: '"client_certificate" in tls' },
  "tls.client_certificate_path": { level: "supported", name: '"client_certificate_path" in tls' },
  "tls.client_key": { level: "supported", name: '"client_key" in tls' },
  "tls.client_key_path": { level: "supported", name: '"client_key_path" in tls' },
  // As the route options "tls_fragment"/"tls_record_fragment": a DPI workaround whose absence
  // leaves the connection working (sing-box accepts these), so a warning, not a refusal.
  "tls.fragment": tlsUnfragmented("fragment"),
  "tls.fragment_fallback_delay": tlsUnfragmented("fragment_fallback_delay"),
  "tls.record_fragment": tlsUnfragmented("record_fragment"),
  "tls.ech": {
    level: "error",
    name: '"ech" in tls',
    note: "is not implemented in tunbox (its TLS, rustls inside Deno, cannot send an encrypted " +
      "ClientHello); remove it to connect with the server name visible, or run a local client " +
      'that supports ECH (sing-box) and point a "socks" outbound at it',
  },
  "tls.utls": tlsIgnored(
    "utls",
    "tunbox sends rustls's ClientHello, not a browser's fingerprint",
  ),
  "tls.reality": {
    level: "error",
    name: '"reality" in tls',
    note: "is not implemented in tunbox (REALITY needs its own handshake); " + PROXY_CLIENT,
  },
  "tls.kernel_tx": tlsIgnored("kernel_tx", "TLS runs in user space"),
  "tls.kernel_rx": tlsIgnored("kernel_rx", "TLS runs in user space"),

  // ── Inbound TLS fields (http and mixed inbounds) ─────────────────────────────────────────
  "inbound_tls.enabled": { level: "supported", name: '"enabled" in an inbound\'s tls' },
  "inbound_tls.server_name": {
    level: "warning",
    name: '"server_name" in an inbound\'s tls',
    note: "is ignored by tunbox: the certificate is served whatever name the client asks for",
  },
  "inbound_tls.insecure": {
    level: "warning",
    name: '"insecure" in an inbound\'s tls',
    note: "has no meaning for a TLS server; ignored",
  },
  "inbound_tls.alpn": { level: "supported", name: '"alpn" in an inbound\'s tls' },
  "inbound_tls.min_version": { level: "supported", name: '"min_version" in an inbound\'s tls' },
  "inbound_tls.max_version": { level: "supported", name: '"max_version" in an inbound\'s tls' },
  "inbound_tls.cipher_suites": inboundTlsIgnored("cipher_suites", "rustls offers its own suites"),
  "inbound_tls.curve_preferences": inboundTlsIgnored(
    "curve_preferences",
    "rustls offers its own groups",
  ),
  "inbound_tls.certificate": { level: "supported", name: '"certificate" in an inbound\'s tls' },
  "inbound_tls.certificate_path": {
    level: "supported",
    name: '"certificate_path" in an inbound\'s tls',
  },
  "inbound_tls.key": { level: "supported", name: '"key" in an inbound\'s tls' },
  "inbound_tls.key_path": { level: "supported", name: '"key_path" in an inbound\'s tls' },
  "inbound_tls.client_authentication": inboundTlsMissing("client_authentication"),
  "inbound_tls.client_certificate": inboundTlsMissing("client_certificate"),
  "inbound_tls.client_certificate_path": inboundTlsMissing("client_certificate_path"),
  "inbound_tls.client_certificate_public_key_sha256": inboundTlsMissing(
    "client_certificate_public_key_sha256",
  ),
  "inbound_tls.kernel_tx": inboundTlsIgnored("kernel_tx", "TLS runs in user space"),
  "inbound_tls.kernel_rx": inboundTlsIgnored("kernel_rx", "TLS runs in user space"),
  "inbound_tls.acme": {
    level: "error",
    name: '"acme" in an inbound\'s tls',
    note: 'is not implemented in tunbox; give "certificate_path" and "key_path"',
  },
  "inbound_tls.ech": inboundTlsMissing("ech"),
  "inbound_tls.reality": inboundTlsMissing("reality"),

  // ── DNS servers ───────────────────────────────────────────────────────────────────────────
  "dns.server.local": { level: "supported", name: 'DNS server type "local"' },
  "dns.server.hosts": { level: "supported", name: 'DNS server type "hosts"' },
  "dns.server.udp": { level: "supported", name: 'DNS server type "udp"' },
  "dns.server.tcp": { level: "supported", name: 'DNS server type "tcp"' },
  "dns.server.fakeip": { level: "supported", name: 'DNS server type "fakeip"' },
  "dns.server.tls": { level: "supported", name: 'DNS server type "tls"' },
  "dns.server.https": { level: "supported", name: 'DNS server type "https"' },
  // Public DNS-over-QUIC resolvers (AdGuard, NextDNS, AliDNS, ...) serve DNS over TLS on TCP at
  // the same port 853, so a quic server runs as the tls transport (src/dns/module.ts), as h3 runs
  // as https, rather than stopping a config sing-box accepts.
  "dns.server.quic": {
    level: "warning",
    name: 'DNS server type "quic"',
    note: "is not built (tunbox has no QUIC): this server is used over TLS (DNS over TLS, TCP) " +
      "instead, at the same address and port",
  },
  // DoH servers answer on HTTP/2 at the same address and path (public resolvers all do), so an
  // h3 server runs as the https transport (src/dns/module.ts) rather than stopping the config.
  "dns.server.h3": {
    level: "warning",
    name: 'DNS server type "h3"',
    note: "is not built (tunbox has no QUIC): this server is used over HTTPS (HTTP/2) instead, " +
      "at the same address and path",
  },
  "dns.server.dhcp": { level: "supported", name: 'DNS server type "dhcp"' },
  "dns.server.resolved": dnsServer("resolved", ""),
  "dns.server.tailscale": dnsServer("tailscale", ""),
  "dns.optimistic": {
    level: "warning",
    name: '"optimistic" in dns',
    note: "is not built in tunbox: expired answers are not served while they are refreshed; " +
      "each lookup waits for the server once its answer expires",
  },
  "dns.rule.outbound": {
    level: "warning",
    name: '"outbound"',
    note: 'is deprecated in sing-box 1.12.0 and removed in 1.14.0: set "domain_resolver" in ' +
      "the dial fields of the outbounds it meant instead; tunbox still matches it against the " +
      "outbound whose dial looks a name up",
  },
  // sing-box 1.14 (PR #3968): "evaluate" asks a server and keeps its response without answering,
  // later rules match that response ("match_response" with response_rcode/answer/ns/extra,
  // ip_cidr...) and "respond" returns it. Refused, not ignored: skipping them would send the
  // queries to other servers than the config chose.
  "dns.action.evaluate": {
    level: "error",
    name: 'DNS rule action "evaluate"',
    note: `is not built in tunbox: ${NO_RESPONSE_MATCH}`,
  },
  "dns.action.respond": {
    level: "error",
    name: 'DNS rule action "respond"',
    note: `is not built in tunbox: ${NO_RESPONSE_MATCH}`,
  },
  "dns.rule.match_response": {
    level: "error",
    name: "response matching (match_response, response_rcode, response_answer, response_ns, " +
      "response_extra)",
    note: `is not built in tunbox: ${NO_RESPONSE_MATCH}`,
  },
  "dns.rule.nested_address_filter": {
    level: "warning",
    name: "address filter items (ip_cidr, ip_is_private, ip_accept_any)",
    note: "never match inside a logical DNS rule in tunbox",
  },

  // ── Route ─────────────────────────────────────────────────────────────────────────────────
  "route.find_process": {
    level: "supported",
    name: '"find_process"',
    os: PROCESS_LOOKUP_OS,
    elsewhere: {
      level: "warning",
      note: "is ignored on this system (process lookup is built on Linux and macOS): " +
        "connections are logged without process names",
    },
  },
  "route.override_android_vpn": {
    level: "warning",
    name: '"override_android_vpn"',
    note: "only applies on Android; tunbox ignores it",
  },
  "route.default_network_strategy": {
    level: "warning",
    name: '"default_network_strategy"',
    note: GUI_ONLY,
  },
  "route.default_network_type": {
    level: "warning",
    name: '"default_network_type"',
    note: GUI_ONLY,
  },
  "route.default_fallback_network_type": {
    level: "warning",
    name: '"default_fallback_network_type"',
    note: GUI_ONLY,
  },
  "route.default_fallback_delay": {
    level: "warning",
    name: '"default_fallback_delay"',
    note: GUI_ONLY,
  },
  "route.find_neighbor": {
    level: "warning",
    name: '"find_neighbor"',
    note: "is not implemented in tunbox yet; ignored",
  },
  "route.dhcp_lease_files": {
    level: "warning",
    name: '"dhcp_lease_files"',
    note: "is not implemented in tunbox yet; ignored",
  },
  "route.default_http_client": {
    level: "supported",
    name: '"default_http_client"',
    note: 'its client\'s "detour" carries downloads of remote rule-sets without http_client or ' +
      "download_detour",
  },
  "route.geoip": { level: "error", name: '"route.geoip"', note: `is removed: ${GEO_HINT}` },
  "route.geosite": { level: "error", name: '"route.geosite"', note: `is removed: ${GEO_HINT}` },

  // ── Rule-sets ─────────────────────────────────────────────────────────────────────────────
  "rule_set.inline": { level: "supported", name: "inline rule-sets" },
  "rule_set.local": { level: "supported", name: "local rule-sets" },
  "rule_set.remote": { level: "supported", name: "remote rule-sets" },

  "rule_set.http_client": {
    level: "warning",
    name: "an inline http_client's TLS, headers, version, engine and dial fields other than detour",
    note: 'are ignored by tunbox: the rule-set is downloaded through its "detour" only',
  },
  "rule_set.initial_path": {
    level: "warning",
    name: '"initial_path"',
    note: "is not used by tunbox yet; rules that use the rule-set wait for its first download",
  },

  // ── Rule items (route and DNS rules) ──────────────────────────────────────────────────────
  "rule.auth_user": neverMatches("auth_user", "tunbox inbounds have no authenticated users"),
  // Linux looks the socket's process up (src/platform/linux/process_lookup.ts).
  "rule.process_name": processItem("process_name"),
  "rule.process_path": processItem("process_path"),
  "rule.process_path_regex": processItem("process_path_regex"),
  "rule.package_name": neverMatches("package_name", "Android packages are not supported"),
  "rule.package_name_regex": neverMatches(
    "package_name_regex",
    "Android packages are not supported",
  ),
  "rule.user": processItem("user"),
  "rule.user_id": processItem("user_id"),
  "rule.clash_mode": { level: "supported", name: '"clash_mode"' },
  "rule.network_type": neverMatches(
    "network_type",
    "network type information is only available in sing-box's graphical clients",
  ),
  "rule.network_is_expensive": neverMatches(
    "network_is_expensive",
    "network type information is only available in sing-box's graphical clients",
  ),
  "rule.network_is_constrained": neverMatches(
    "network_is_constrained",
    "network type information is only available in sing-box's graphical clients",
  ),
  "rule.wifi_ssid": neverMatches(
    "wifi_ssid",
    "Wi-Fi information is only available in sing-box's graphical clients",
  ),
  "rule.wifi_bssid": neverMatches(
    "wifi_bssid",
    "Wi-Fi information is only available in sing-box's graphical clients",
  ),
  "rule.interface_address": neverMatches(
    "interface_address",
    "interface address rules are not implemented",
  ),
  "rule.network_interface_address": neverMatches(
    "network_interface_address",
    "interface address rules are not implemented",
  ),
  "rule.default_interface_address": neverMatches(
    "default_interface_address",
    "interface address rules are not implemented",
  ),
  "rule.preferred_by": neverMatches("preferred_by", "preferred_by is not implemented"),
  "rule.source_mac_address": neverMatches(
    "source_mac_address",
    "neighbor lookup is not implemented",
  ),
  "rule.source_hostname": neverMatches("source_hostname", "neighbor lookup is not implemented"),
  "rule.rule_set": { level: "supported", name: '"rule_set"' },
  "rule.geoip": { level: "error", name: '"geoip"', note: `is removed: ${GEO_HINT}` },
  "rule.geosite": { level: "error", name: '"geosite"', note: `is removed: ${GEO_HINT}` },
  "rule.source_geoip": { level: "error", name: '"source_geoip"', note: `is removed: ${GEO_HINT}` },

  // ── Rule actions and sniffers ─────────────────────────────────────────────────────────────
  "action.route_options.network_strategy": {
    level: "warning",
    name: '"network_strategy"',
    note: GUI_ONLY,
  },
  "action.route_options.udp_connect": {
    level: "warning",
    name: '"udp_connect"',
    note: "is not implemented in tunbox yet; ignored",
  },
  "action.route_options.tls_fragment": {
    level: "warning",
    name: '"tls_fragment"',
    note: "is not implemented in tunbox yet; TLS is sent unfragmented",
  },
  "action.route_options.tls_record_fragment": {
    level: "warning",
    name: '"tls_record_fragment"',
    note: "is not implemented in tunbox yet; TLS is sent unfragmented",
  },
  "sniff.http": { level: "supported", name: 'sniffer "http"' },
  "sniff.tls": { level: "supported", name: 'sniffer "tls"' },
  "sniff.quic": { level: "supported", name: 'sniffer "quic"' },
  "sniff.dns": { level: "supported", name: 'sniffer "dns"' },
  "sniff.stun": sniffer("stun"),
  "sniff.bittorrent": sniffer("bittorrent"),
  "sniff.dtls": sniffer("dtls"),
  "sniff.ssh": sniffer("ssh"),
  "sniff.rdp": sniffer("rdp"),
  "sniff.ntp": sniffer("ntp"),

  // ── Experimental ──────────────────────────────────────────────────────────────────────────
  "experimental.clash_api": { level: "supported", name: '"clash_api"' },
  "experimental.clash_api.default_mode": { level: "supported", name: '"default_mode"' },
  "experimental.clash_api.external_ui": { level: "supported", name: '"external_ui"' },
  "experimental.cache_file": { level: "supported", name: '"cache_file"' },
  "experimental.cache_file.store_dns": {
    level: "warning",
    name: '"store_dns"',
    note: "is not implemented in tunbox yet; the DNS cache starts empty on every start",
  },
  "experimental.v2ray_api": {
    level: "warning",
    name: '"v2ray_api"',
    note: "is not implemented in tunbox; ignored",
  },
  "experimental.debug": {
    level: "warning",
    name: '"debug"',
    note: "is Go runtime tuning; tunbox ignores it",
  },
} as const satisfies Record<string, Feature>;

/** The id of a feature in {@linkcode FEATURES}. */
export type FeatureId = keyof typeof FEATURES;

function proxyOutbound(type: string): Feature {
  return {
    level: "warning",
    name: `outbound type "${type}"`,
    note: `is not implemented in tunbox yet; ${LEFT_OUT}. To use it, ${PROXY_CLIENT}`,
  };
}

function serverInbound(type: string): Feature {
  return {
    level: "error",
    name: `inbound type "${type}"`,
    note: "is a proxy server, which tunbox does not run",
  };
}

function listenField(key: string): Feature {
  return {
    level: "warning",
    name: `"${key}"`,
    note: "is not implemented for listening inbounds in tunbox yet; ignored",
  };
}

function tlsIgnored(key: string, why: string): Feature {
  return { level: "warning", name: `"${key}" in tls`, note: `is ignored: ${why}` };
}

function inboundTlsIgnored(key: string, why: string): Feature {
  return { level: "warning", name: `"${key}" in an inbound's tls`, note: `is ignored: ${why}` };
}

function inboundTlsMissing(key: string): Feature {
  return {
    level: "error",
    name: `"${key}" in an inbound's tls`,
    note: "is not implemented in tunbox's TLS server",
  };
}

function tlsUnfragmented(key: string): Feature {
  return {
    level: "warning",
    name: `"${key}" in tls`,
    note: "is not implemented in tunbox yet; TLS is sent unfragmented",
  };
}

function dnsServer(type: string, yet: "yet" | ""): Feature {
  return {
    level: "error",
    name: `DNS server type "${type}"`,
    note: `is not implemented in tunbox${yet ? " yet" : ""}; use a "udp" or "tcp" server ` +
      '(with "detour" to send it through a proxy)',
  };
}

/** A rule item matched by the connection's process: looked up on Linux and macOS, never elsewhere. */
function processItem(field: string): Feature {
  return {
    level: "supported",
    name: `"${field}"`,
    os: PROCESS_LOOKUP_OS,
    elsewhere: {
      level: "warning",
      note: `${NEVER} on this system (process lookup is built on Linux and macOS)`,
    },
  };
}

function neverMatches(field: string, why: string): Feature {
  return { level: "warning", name: `"${field}"`, note: `${NEVER} (${why})` };
}

function sniffer(name: string): Feature {
  return {
    level: "warning",
    name: `sniffer "${name}"`,
    note: "is not implemented by tunbox; those protocols are not detected",
  };
}

/** The verdict on one feature for one OS. */
export interface Verdict {
  readonly id: string;
  readonly level: Level;
  /** The message for warnings and errors ("" when supported). */
  readonly message: string;
}

function osName(os: string): string {
  return os === "darwin" ? "macOS" : os === "linux" ? "Linux" : os;
}

/** True when `id` names a feature in {@linkcode FEATURES}. */
export function isFeature(id: string): id is FeatureId {
  return Object.hasOwn(FEATURES, id);
}

/** The verdict on feature `id` on `os` (default: this machine's). */
export function verdict(id: FeatureId, os: string = Deno.build.os): Verdict {
  const f: Feature = FEATURES[id];
  if (f.os && !f.os.includes(os)) {
    if (f.elsewhere) {
      return { id, level: f.elsewhere.level, message: `${f.name} ${f.elsewhere.note}` };
    }
    return {
      id,
      level: "error",
      message: `${f.name} is only available on ${f.os.map(osName).join(" and ")}`,
    };
  }
  if (f.level === "supported") return { id, level: "supported", message: "" };
  return { id, level: f.level, message: f.note ? `${f.name} ${f.note}` : f.name };
}

/** True when tunbox implements feature `id` on `os`. */
export function isSupported(id: FeatureId, os: string = Deno.build.os): boolean {
  return verdict(id, os).level === "supported";
}

/** The feature id for `<area>.<key>` when there is one (`featureId("outbound", "vmess")`). */
export function featureId(area: string, key: string): FeatureId | undefined {
  const id = `${area}.${key}`;
  return isFeature(id) ? id : undefined;
}
