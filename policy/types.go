package policy

import (
	"context"
	"io/fs"
	"net/netip"
	"strconv"
	"time"
)

// Permission is the value of one domain or unix-socket rule.
type Permission uint8

const (
	// PermInvalid is the zero value: not a permission the files may use.
	PermInvalid Permission = iota
	// Allow lets the host (or socket) through.
	Allow
	// Deny blocks a host. For sockets, "deny" is read as None.
	Deny
	// None is the socket permission that allows nothing.
	None
)

func (p Permission) String() string {
	switch p {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	case None:
		return "none"
	}
	return "invalid"
}

// ParseDomainPermission reads a domains-map value: "allow" or "deny".
func ParseDomainPermission(s string) (Permission, bool) {
	switch s {
	case "allow":
		return Allow, true
	case "deny":
		return Deny, true
	}
	return PermInvalid, false
}

// ParseSocketPermission reads a unix_sockets-map value: "allow", "none", or
// "deny" (a synonym of "none").
func ParseSocketPermission(s string) (Permission, bool) {
	switch s {
	case "allow":
		return Allow, true
	case "none", "deny":
		return None, true
	}
	return PermInvalid, false
}

// Origin says which file a rule or setting came from.
type Origin uint8

const (
	// OriginDefault marks a built-in default value.
	OriginDefault Origin = iota
	// OriginManaged is the administrator's requirements.toml.
	OriginManaged
	// OriginUser is the user's config.toml.
	OriginUser
)

func (o Origin) String() string {
	switch o {
	case OriginManaged:
		return "managed"
	case OriginUser:
		return "user"
	}
	return "default"
}

// Source locates a rule or setting: file, 1-based line, and whose file it is.
type Source struct {
	File   string
	Line   int
	Origin Origin
}

// String is where s points, as file:line ("default" for a built-in value).
// Notes, messages and explain output all locate sources so.
func (s Source) String() string {
	if s.File == "" {
		return "default"
	}
	return s.File + ":" + strconv.Itoa(s.Line)
}

// Rule is one domain pattern with its permission, as written, and where it
// was written. Pattern holds the key exactly as it appears in the file; the
// matcher normalises it.
type Rule struct {
	Pattern string
	Perm    Permission
	Source  Source
}

// SocketRule is one unix_sockets entry.
type SocketRule struct {
	Path   string
	Perm   Permission // Allow or None
	Source Source
}

// SessionMode is the sandbox mode a session runs in.
type SessionMode string

const (
	ModeReadOnly       SessionMode = "read-only"
	ModeWorkspaceWrite SessionMode = "workspace-write"
	ModeFullAccess     SessionMode = "full-access"
)

// Restricted reports whether misses are asked rather than denied by default.
func (m SessionMode) Restricted() bool { return m != ModeFullAccess }

// ParseSessionMode accepts the three modes and the danger-full-access alias.
func ParseSessionMode(s string) (SessionMode, bool) {
	switch s {
	case "read-only":
		return ModeReadOnly, true
	case "workspace-write":
		return ModeWorkspaceWrite, true
	case "full-access", "danger-full-access":
		return ModeFullAccess, true
	}
	return "", false
}

// NetworkMode is the network table's mode (POLICY.md §1.1): full access,
// or limited to what the proxy can inspect.
type NetworkMode string

// The network modes.
const (
	ModeFull    NetworkMode = "full"
	ModeLimited NetworkMode = "limited"
)

// ParseNetworkMode accepts "full" and "limited".
func ParseNetworkMode(s string) (NetworkMode, bool) {
	switch m := NetworkMode(s); m {
	case ModeFull, ModeLimited:
		return m, true
	}
	return "", false
}

// OnMiss is what an allowlist miss (reason not_allowed) becomes.
type OnMiss string

const (
	MissAsk  OnMiss = "ask"
	MissDeny OnMiss = "deny"
)

// Setting is one effective scalar with its provenance. Forced is set when a
// managed ceiling lowered the user's value; Note says why in words.
type Setting[T any] struct {
	Value  T
	Source Source
	Forced bool
	Note   string
}

// Dropped records a user entry that did not make it into the effective
// policy, and why.
type Dropped struct {
	What   string // e.g. `domains."API.Example.com" = "allow"`
	Source Source
	Why    string
}

// Effective is the merged policy for one session mode (POLICY.md §3). The
// merge package builds it; Compile turns it into a matcher.
type Effective struct {
	SessionMode SessionMode
	// OnMiss is what an allowlist miss becomes, with the note saying why
	// (merge decides it from the session mode and
	// managed_allowed_domains_only, POLICY §3).
	OnMiss Setting[OnMiss]

	Enabled                          Setting[bool]
	Mode                             Setting[NetworkMode]
	AllowLocalBinding                Setting[bool]
	AllowUpstreamProxy               Setting[bool]
	DangerouslyAllowNonLoopbackProxy Setting[bool]
	DangerouslyAllowAllUnixSockets   Setting[bool]
	ManagedAllowedDomainsOnly        Setting[bool]
	EnableSocks5                     Setting[bool]
	EnableSocks5UDP                  Setting[bool]
	HTTPPort                         *Setting[int] // managed http_port, if set
	SocksPort                        *Setting[int] // managed socks_port, if set
	HTTPAddr                         Setting[string]
	SocksAddr                        Setting[string]

	// MITM is the user's mitm key: intercept HTTPS so that limited mode
	// can check each request's method (POLICY §6). No effect in full mode.
	MITM Setting[bool]

	// Allow and Deny are the effective domain rules, managed entries first.
	Allow []Rule
	Deny  []Rule
	// Sockets are the effective unix_sockets entries.
	Sockets []SocketRule

	Dropped []Dropped
}

// Protocol is how a request reached the proxy.
type Protocol string

const (
	ProtoHTTP         Protocol = "http"
	ProtoHTTPSConnect Protocol = "https_connect"
	ProtoSOCKS5TCP    Protocol = "socks5_tcp"

	// ProtoHTTPS is a request inside an intercepted tunnel (POLICY §6).
	ProtoHTTPS Protocol = "https"
)

// Reason is why a decision came out as it did (POLICY.md §4.1, §5).
type Reason string

const (
	ReasonAllowed          Reason = "allowed"
	ReasonNotAllowed       Reason = "not_allowed"
	ReasonNotAllowedLocal  Reason = "not_allowed_local"
	ReasonDenied           Reason = "denied"
	ReasonMethodNotAllowed Reason = "method_not_allowed"
	ReasonMITMRequired     Reason = "mitm_required"
	ReasonProxyDisabled    Reason = "proxy_disabled"

	// ReasonHostMismatch: a tunnel's TLS server name, or an intercepted
	// request's Host / :authority, names another host than the CONNECT
	// target (POLICY §5, §6).
	ReasonHostMismatch Reason = "host_mismatch"

	// ReasonLoopDetected: a checked address of the destination is one of
	// the proxy's own listeners (POLICY §5: the proxy never connects to
	// itself).
	ReasonLoopDetected Reason = "loop_detected"
)

// DecisionSource is the `source` field of a decision.
type DecisionSource string

const (
	SourceBaseline   DecisionSource = "baseline_policy"
	SourceModeGuard  DecisionSource = "mode_guard"
	SourceProxyState DecisionSource = "proxy_state"
)

// Verdict is allow, deny or ask.
type Verdict string

const (
	VerdictAllow Verdict = "allow"
	VerdictDeny  Verdict = "deny"
	VerdictAsk   Verdict = "ask"
)

// Resolver looks up the addresses of a name. The proxy and `check` inject
// one; nil means net.DefaultResolver.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Request is what a decision is asked about.
type Request struct {
	Host     string // as the client sent it (may carry brackets, trailing dots…)
	Port     int
	Protocol Protocol
	Method   string // "" for CONNECT / SOCKS5
	// UnixSocket, when non-empty, makes this a socket request (§5): domain
	// rules do not apply.
	UnixSocket string
	// SocketFile is the file UnixSocket resolved to, as the proxy opened
	// it to connect through: the decision compares it with the entries'
	// files (DecideSocket). Nil compares paths as cleaned strings.
	SocketFile SocketFile
	// Upgrade marks a request asking to switch protocols (an Upgrade
	// header with Connection: upgrade, e.g. WebSocket); limited mode
	// refuses it, as the bytes after the switch cannot be inspected.
	Upgrade bool
	// ReportOnly asks for report-only mode (POLICY §8): a block of the
	// user's policy is decided and reported, but the request goes on (see
	// Decision.NotEnforced). `serve --report-only` sets it.
	ReportOnly bool
	// Approved says a person allowed this host when asked (POLICY §8): an
	// allowlist miss that would be asked is decided on as allowed, with
	// Decision.Override set. Deny rules and every other check still apply.
	Approved bool
	// MethodOverride are the values of the request's method-override
	// headers (MethodOverrides): in limited mode a GET, HEAD or OPTIONS
	// whose override names any other method is refused like that method.
	MethodOverride []string
	// Own, when set, reports whether an address is one of the proxy's own
	// listeners: an allowed destination with any checked address for which
	// it is true is refused with loop_detected before anything is dialled.
	Own func(netip.AddrPort) bool
	// NoResolve skips step 5 (the DNS check); `check --no-resolve`, and
	// the proxy's second look at a tunnel it has already checked.
	NoResolve bool

	// First is what the first client bytes of a CONNECT or SOCKS5 tunnel
	// were, once the proxy has read them (FirstUnread before).
	First FirstBytes
	// SNI is the server name of the TLS ClientHello a CONNECT or SOCKS5
	// tunnel began with ("" when none): it must name Host (POLICY §5, §6).
	SNI string
	// Authority is, for ProtoHTTPS, the intercepted request's Host /
	// :authority (or its absolute-form target's authority); Host and Port
	// are then the CONNECT target's, which it must name (POLICY §6).
	Authority string
}

// SocketFile is an opened file whose identity a socket decision checks;
// *os.File is one. Stat follows nothing: it describes the file itself.
type SocketFile interface {
	Stat() (fs.FileInfo, error)
}

// FirstBytes is what a tunnel's first client bytes were (POLICY §5, §6).
type FirstBytes uint8

const (
	// FirstUnread: not read yet (the decision that opens the tunnel).
	FirstUnread FirstBytes = iota
	// FirstTLS: a well-formed TLS ClientHello (its name, if any, in SNI).
	FirstTLS
	// FirstNotTLS: anything but a TLS handshake.
	FirstNotTLS
	// FirstBadTLS: a TLS handshake record holding no ClientHello the proxy
	// can read; its server name cannot be checked.
	FirstBadTLS
)

// Decision explains itself: verdict, reason, source, the rule that decided,
// and for allowed name requests the checked addresses to dial.
type Decision struct {
	Verdict Verdict
	Reason  Reason
	Source  DecisionSource
	// Rule is the domain pattern that matched the host: the deny rule for
	// denied; the allow rule for allowed and for blocks decided after it
	// matched (DNS, the mode guard). nil when none matched.
	Rule *Rule
	// Host is the normalised host that was decided.
	Host string
	// Addrs are the checked addresses to dial, in resolver order (for an IP
	// literal: that address; for localhost: its loopback addresses). Empty
	// for blocks.
	Addrs []netip.Addr
	// Resolved is true when DNS was consulted.
	Resolved bool
	// ResolveErr is the lookup error (or timeout) when DNS was consulted and
	// gave no usable answer. With allow_local_binding the decision stays
	// allowed with no Addrs, and the proxy answers 502.
	ResolveErr error
	// Detail says in words what happened when it is more than the reason
	// (POLICY §5 `detail`): "lookup x.example: no such host", "DNS timeout
	// after 2s", "x.example resolved to 10.0.0.5 (private)". Empty otherwise.
	Detail string
	// Intercept is set on an allowed CONNECT or SOCKS5 request that the
	// proxy must intercept (limited mode with mitm = true, POLICY §6).
	Intercept bool
	// Socket is the unix_sockets entry that decided a socket request (an
	// allow entry, or the none entry that refused it); nil otherwise.
	Socket *SocketRule
	// Layer says whose policy made a block: OriginManaged (a managed deny
	// rule; a miss when only managed allow rules count), OriginUser (a
	// user deny rule, a miss the user could allow, the user's limited
	// mode), or OriginDefault for the guards that belong to no file (a
	// disabled proxy, local and private addresses, DNS answers,
	// host_mismatch, unix sockets, invalid hosts).
	Layer Origin
	// ReportOnly is set when the request was decided in report-only mode
	// (Request.ReportOnly).
	ReportOnly bool
	// Override is set on an allow that a person's answer made of an ask
	// (Request.Approved); audited as network.policy.override.
	Override bool
	// NotEnforced marks a block of the user's policy that report-only mode
	// lets through (POLICY §8): Verdict, Reason and Rule say what was
	// decided; Addrs are the addresses checked as for an allowed host.
	NotEnforced bool
}

// Allowed reports whether the request may proceed: it is allowed, or it
// is a block a report-only request lets through (NotEnforced).
func (d Decision) Allowed() bool { return d.Verdict == VerdictAllow || d.NotEnforced }

// DefaultLookupTimeout bounds the step-5 DNS lookup (fail closed).
const DefaultLookupTimeout = 2 * time.Second
