package tlsca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 19, 8, 0, 0, 0, time.UTC)

func newCA(t testing.TB, now time.Time) *CA {
	t.Helper()
	ca, err := New(now)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestNewCAProfile(t *testing.T) {
	ca := newCA(t, t0)
	c := ca.Cert
	if !strings.HasPrefix(c.Subject.CommonName, SubjectPrefix+" (") || !strings.HasSuffix(c.Subject.CommonName, ", 2026-03-19)") {
		t.Errorf("subject = %q", c.Subject.CommonName)
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basic constraints: IsCA=%v valid=%v pathlen=%d zero=%v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("key usage = %b", c.KeyUsage)
	}
	if len(c.SubjectKeyId) != 20 {
		t.Errorf("subject key id = %x", c.SubjectKeyId)
	}
	if k, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("public key = %T, want ECDSA P-256", c.PublicKey)
	}
	if got := c.NotAfter.Sub(t0); got != 365*24*time.Hour {
		t.Errorf("validity = %v", got)
	}
	// Both extensions the profile names are critical.
	critical := map[string]bool{}
	for _, e := range c.Extensions {
		critical[e.Id.String()] = e.Critical
	}
	if !critical["2.5.29.19"] || !critical["2.5.29.15"] {
		t.Errorf("basicConstraints/keyUsage critical = %v/%v", critical["2.5.29.19"], critical["2.5.29.15"])
	}
	if !IsNetpolicyCA(c) {
		t.Error("IsNetpolicyCA(new CA) = false")
	}
	if fp := ca.Fingerprint(); len(fp) != 95 || strings.Count(fp, ":") != 31 {
		t.Errorf("fingerprint = %q", fp)
	}
}

func TestLeaf(t *testing.T) {
	ca := newCA(t, t0)
	now := t0.Add(time.Hour)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, tc := range []struct {
		host    string
		wantDNS []string
		wantIP  string
	}{
		{host: "api.example.com", wantDNS: []string{"api.example.com"}},
		{host: "93.184.216.34", wantIP: "93.184.216.34"},
		{host: "2001:db8::1", wantIP: "2001:db8::1"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			cert, err := ca.LeafAt(tc.host, now)
			if err != nil {
				t.Fatal(err)
			}
			l := cert.Leaf
			if tc.wantIP != "" {
				if len(l.IPAddresses) != 1 || !l.IPAddresses[0].Equal(net.ParseIP(tc.wantIP)) || len(l.DNSNames) != 0 {
					t.Errorf("SAN = %v %v, want IP %s", l.DNSNames, l.IPAddresses, tc.wantIP)
				}
			} else if len(l.DNSNames) != 1 || l.DNSNames[0] != tc.wantDNS[0] || len(l.IPAddresses) != 0 {
				t.Errorf("SAN = %v %v, want %v", l.DNSNames, l.IPAddresses, tc.wantDNS)
			}
			if !l.NotBefore.Equal(now.Add(-time.Hour)) || !l.NotAfter.Equal(now.Add(7*24*time.Hour)) {
				t.Errorf("validity %v – %v", l.NotBefore, l.NotAfter)
			}
			if l.KeyUsage != x509.KeyUsageDigitalSignature || len(l.ExtKeyUsage) != 1 || l.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
				t.Errorf("usage = %b %v", l.KeyUsage, l.ExtKeyUsage)
			}
			if l.IsCA {
				t.Error("leaf is a CA")
			}
			if len(l.SubjectKeyId) == 0 || !bytes.Equal(l.AuthorityKeyId, ca.Cert.SubjectKeyId) {
				t.Errorf("SKID %x AKID %x (CA SKID %x)", l.SubjectKeyId, l.AuthorityKeyId, ca.Cert.SubjectKeyId)
			}
			if _, ok := l.PublicKey.(*ecdsa.PublicKey); !ok {
				t.Errorf("leaf key %T", l.PublicKey)
			}
			if _, err := l.Verify(x509.VerifyOptions{DNSName: tc.host, Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				t.Errorf("chain does not verify: %v", err)
			}
			if err := l.VerifyHostname("other.example.com"); err == nil {
				t.Error("leaf verifies for another host")
			}
		})
	}
}

func TestLeafNeverPastCA(t *testing.T) {
	ca := newCA(t, t0)
	now := ca.Cert.NotAfter.Add(-48 * time.Hour)
	c, err := ca.LeafAt("a.example", now)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Leaf.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("leaf ends %v, CA %v", c.Leaf.NotAfter, ca.Cert.NotAfter)
	}
	// A leaf that ends with the CA is not re-minted on every call.
	if _, err := ca.LeafAt("a.example", now.Add(36*time.Hour)); err != nil || ca.Mints() != 1 {
		t.Errorf("mints = %d, err %v", ca.Mints(), err)
	}
	if _, err := ca.LeafAt("b.example", ca.Cert.NotAfter.Add(time.Minute)); !errors.Is(err, ErrCAExpired) {
		t.Errorf("leaf of an expired CA: err = %v", err)
	}
}

func TestLeafCache(t *testing.T) {
	ca := newCA(t, t0)
	a1, _ := ca.LeafAt("a.example", t0)
	a2, _ := ca.LeafAt("a.example", t0.Add(time.Hour))
	if a1 != a2 || ca.Mints() != 1 {
		t.Errorf("second call minted again (mints %d)", ca.Mints())
	}
	// Close to its expiry a cached leaf is replaced.
	a3, _ := ca.LeafAt("a.example", t0.Add(6*24*time.Hour+12*time.Hour))
	if a3 == a1 || ca.Mints() != 2 {
		t.Errorf("stale leaf served (mints %d)", ca.Mints())
	}
	// The cache is bounded: least recently used first out.
	ca.leaves.cache.MaxEntries = 3
	for _, h := range []string{"b", "c", "d", "e"} {
		if _, err := ca.LeafAt(h+".example", t0); err != nil {
			t.Fatal(err)
		}
	}
	if n := ca.leaves.Len(); n != 3 {
		t.Errorf("cache holds %d, want 3", n)
	}
	if ca.leaves.get("a.example", t0) != nil || ca.leaves.get("e.example", t0) == nil {
		t.Error("eviction order is not LRU")
	}
}

func TestLeafSingleflight(t *testing.T) {
	ca := newCA(t, t0)
	var wg sync.WaitGroup
	certs := make([]any, 100)
	start := make(chan struct{})
	for i := range certs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := ca.Leaf("same.example")
			if err != nil {
				t.Error(err)
			}
			certs[i] = c
		}()
	}
	close(start)
	wg.Wait()
	if ca.Mints() != 1 {
		t.Errorf("100 concurrent requests minted %d leaves, want 1", ca.Mints())
	}
	for _, c := range certs {
		if c != certs[0] {
			t.Fatal("callers got different certificates")
		}
	}
}

func TestDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		flag string
		env  map[string]string
		want string
	}{
		{"/x/ca", map[string]string{"NETPOLICY_CA_DIR": "/y"}, "/x/ca"},
		{"", map[string]string{"NETPOLICY_CA_DIR": "/y", "CODEX_HOME": "/c"}, "/y"},
		{"", map[string]string{"CODEX_HOME": "/c", "HOME": "/h"}, "/c/netpolicy-ca"},
		{"", map[string]string{"HOME": "/h"}, "/h/.codex/netpolicy-ca"},
	} {
		got, err := Dir(tc.flag, env(tc.env))
		if err != nil || got != tc.want {
			t.Errorf("Dir(%q, %v) = %q, %v; want %q", tc.flag, tc.env, got, err, tc.want)
		}
	}
}

// testRoots writes a bundle with one ordinary root and one netpolicy CA and
// points SSL_CERT_FILE at it (SSL_CERT_DIR at an empty directory).
func testRoots(t *testing.T) (getenv func(string) string, other *CA) {
	t.Helper()
	dir := t.TempDir()
	other = newCA(t, t0)
	// An ordinary root: same shape, another subject.
	plain := newCA(t, t0)
	plain.Cert.Subject.CommonName = "Example Root"
	tmpl := *plain.Cert
	tmpl.RawSubject, tmpl.RawIssuer = nil, nil
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, plain.Cert.PublicKey, plain.key)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	b.Write(other.CertPEM)
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der}) // duplicate
	f := filepath.Join(dir, "roots.pem")
	os.WriteFile(f, b.Bytes(), 0o644)
	empty := t.TempDir()
	return func(k string) string {
		switch k {
		case "SSL_CERT_FILE":
			return f
		case "SSL_CERT_DIR":
			return empty
		}
		return ""
	}, other
}

func TestSystemRootsDropNetpolicyCAs(t *testing.T) {
	getenv, other := testRoots(t)
	roots := SystemRoots(getenv)
	if len(roots) != 1 || roots[0].Subject.CommonName != "Example Root" {
		var names []string
		for _, r := range roots {
			names = append(names, r.Subject.CommonName)
		}
		t.Fatalf("roots = %v, want only Example Root", names)
	}
	// The upstream pool does not trust a leaf of a netpolicy CA, even
	// when SSL_CERT_FILE names a bundle that holds it.
	leaf, _ := other.Leaf("a.example")
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{Roots: UpstreamPool(getenv), DNSName: "a.example"}); err == nil {
		t.Error("upstream pool trusts a netpolicy CA")
	}
}

func TestStoreInitLoad(t *testing.T) {
	getenv, _ := testRoots(t)
	dir := filepath.Join(t.TempDir(), "ca")
	s := Store{Dir: dir, Getenv: getenv}
	now := time.Now()
	ca, err := s.Init(now, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700 | os.ModeDir}, {s.CertPath(), 0o644}, {s.KeyPath(), 0o600}, {s.BundlePath(), 0o644}} {
		fi, err := os.Stat(f.path)
		if err != nil || fi.Mode() != f.mode {
			t.Errorf("%s: mode %v (%v), want %v", f.path, fi.Mode(), err, f.mode)
		}
	}
	// bundle.pem: the system roots without the other netpolicy CA, then
	// ca.pem.
	bundle, _ := os.ReadFile(s.BundlePath())
	var subjects []string
	for rest := bundle; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, _ := x509.ParseCertificate(b.Bytes)
		subjects = append(subjects, c.Subject.CommonName)
	}
	if len(subjects) != 2 || subjects[0] != "Example Root" || subjects[1] != ca.Cert.Subject.CommonName {
		t.Errorf("bundle subjects = %q", subjects)
	}
	back, warn, err := s.Load(now)
	if err != nil || warn != "" || !back.Cert.Equal(ca.Cert) {
		t.Fatalf("Load = %v, %q, %v", back, warn, err)
	}
	if _, err := s.Init(now, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second Init: %v", err)
	}
	again, err := s.Init(now, true)
	if err != nil || again.Cert.Equal(ca.Cert) {
		t.Fatalf("Init --force: %v", err)
	}
	old, _ := os.ReadFile(s.CertPath() + ".old")
	if !bytes.Equal(old, ca.CertPEM) {
		t.Error("--force did not keep the old ca.pem as ca.pem.old")
	}
	if _, err := os.Stat(s.KeyPath() + ".old"); err != nil {
		t.Error("--force did not keep ca-key.pem.old")
	}
	// Thirty days before the end: a warning.
	if _, warn, err := s.Load(again.Cert.NotAfter.Add(-10 * 24 * time.Hour)); err != nil || !strings.Contains(warn, "expires on") {
		t.Errorf("Load near expiry: warn %q, err %v", warn, err)
	}
}

func TestStoreLoadRefuses(t *testing.T) {
	now := time.Now()
	fresh := func(t *testing.T) Store {
		s := Store{Dir: filepath.Join(t.TempDir(), "ca"), Getenv: func(string) string { return "/nonexistent" }}
		if _, err := s.Init(now, false); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, s Store) Store
		now   time.Time
		want  string
	}{
		{"key 0644", func(t *testing.T, s Store) Store { os.Chmod(s.KeyPath(), 0o644); return s }, now, "chmod 600"},
		{"key 0640", func(t *testing.T, s Store) Store { os.Chmod(s.KeyPath(), 0o640); return s }, now, "readable by group or others"},
		{"cert group-writable", func(t *testing.T, s Store) Store { os.Chmod(s.CertPath(), 0o664); return s }, now, "writable by group or others"},
		{"dir other-writable", func(t *testing.T, s Store) Store { os.Chmod(s.Dir, 0o707); return s }, now, "chmod 700"},
		{"dir symlink", func(t *testing.T, s Store) Store {
			l := s.Dir + "-link"
			os.Symlink(s.Dir, l)
			return Store{Dir: l}
		}, now, "symlink"},
		{"key symlink", func(t *testing.T, s Store) Store {
			os.Rename(s.KeyPath(), s.Dir+"/real-key")
			os.Symlink("real-key", s.KeyPath())
			return s
		}, now, "symlink"},
		{"mismatched pair", func(t *testing.T, s Store) Store {
			other := newCA(t, now)
			os.WriteFile(s.CertPath(), other.CertPEM, 0o644)
			return s
		}, now, "do not match"},
		{"expired", func(t *testing.T, s Store) Store { return s }, now.Add(400 * 24 * time.Hour), "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.setup(t, fresh(t))
			_, _, err := s.Load(tc.now)
			var ue *UnsafeError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) || ue.Fix == "" {
				t.Errorf("Load: %v, want an UnsafeError containing %q", err, tc.want)
			}
		})
	}
	t.Run("not owned", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to give a file away")
		}
		s := fresh(t)
		os.Chown(s.KeyPath(), 4242, 4242)
		if _, _, err := s.Load(now); err == nil || !strings.Contains(err.Error(), "owned by uid 4242") {
			t.Errorf("Load: %v", err)
		}
	})
	t.Run("none", func(t *testing.T) {
		s := Store{Dir: filepath.Join(t.TempDir(), "missing")}
		if _, _, err := s.Load(now); !errors.Is(err, ErrNoCA) {
			t.Errorf("Load of a missing dir: %v", err)
		}
		ca, _, created, err := s.LoadOrInit(now)
		if err != nil || !created || ca == nil {
			t.Errorf("LoadOrInit: created=%v err=%v", created, err)
		}
	})
}
