package tlsca

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/netpolicy/netpolicy/internal/atomicfile"
)

// File names inside the CA directory.
const (
	CertFile   = "ca.pem"
	KeyFile    = "ca-key.pem"
	BundleFile = "bundle.pem"
)

// Dir returns the CA directory: flag (--ca-dir) if set, else
// NETPOLICY_CA_DIR, else $CODEX_HOME/netpolicy-ca, else
// ~/.codex/netpolicy-ca.
func Dir(flag string, getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	switch {
	case flag != "":
		return filepath.Abs(flag)
	case getenv("NETPOLICY_CA_DIR") != "":
		return filepath.Abs(getenv("NETPOLICY_CA_DIR"))
	case getenv("CODEX_HOME") != "":
		return filepath.Abs(filepath.Join(getenv("CODEX_HOME"), "netpolicy-ca"))
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("no CA directory: set --ca-dir or NETPOLICY_CA_DIR (%v)", err)
		}
	}
	return filepath.Join(home, ".codex", "netpolicy-ca"), nil
}

// UnsafeError says why a CA directory or file may not be used, and how to
// fix it.
type UnsafeError struct {
	Path    string
	Problem string
	Fix     string
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("refusing CA %s: %s; to fix: %s", e.Path, e.Problem, e.Fix)
}

// ErrNoCA is returned by Load when the directory holds no CA.
var ErrNoCA = errors.New("no CA")

// Store is a CA directory.
type Store struct {
	Dir string
	// Getenv reads SSL_CERT_FILE and SSL_CERT_DIR for bundle.pem; nil is
	// os.Getenv.
	Getenv func(string) string
}

// CertPath, KeyPath and BundlePath are the paths of the three files.
func (s Store) CertPath() string   { return filepath.Join(s.Dir, CertFile) }
func (s Store) KeyPath() string    { return filepath.Join(s.Dir, KeyFile) }
func (s Store) BundlePath() string { return filepath.Join(s.Dir, BundleFile) }

// Exists reports whether ca.pem or ca-key.pem is present (even as a
// broken symlink).
func (s Store) Exists() bool {
	for _, p := range []string{s.CertPath(), s.KeyPath()} {
		if _, err := os.Lstat(p); err == nil {
			return true
		}
	}
	return false
}

// Init creates a new CA in the directory (made 0700 if missing) and writes
// ca.pem (0644), ca-key.pem (0600) and bundle.pem (0644). If a CA exists it
// fails, unless force is set: then the old files are kept as *.old.
func (s Store) Init(now time.Time, force bool) (*CA, error) {
	if err := s.ensureDir(); err != nil {
		return nil, err
	}
	if s.Exists() {
		if !force {
			return nil, fmt.Errorf("a CA already exists in %s (use --force to replace it; the old files are kept as *.old)", s.Dir)
		}
		for _, p := range []string{s.CertPath(), s.KeyPath(), s.BundlePath()} {
			if err := os.Rename(p, p+".old"); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	ca, err := New(now)
	if err != nil {
		return nil, err
	}
	keyPEM, err := marshalKey(ca.key)
	if err != nil {
		return nil, err
	}
	// The key first: a ca.pem without its key is never left behind as a
	// usable-looking CA.
	if err := atomicfile.ReplaceFile(s.KeyPath(), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.ReplaceFile(s.CertPath(), ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	if err := s.WriteBundle(ca); err != nil {
		return nil, err
	}
	// Read back what was written, with every check Load makes.
	back, _, err := s.Load(now)
	if err != nil {
		return nil, fmt.Errorf("verifying the new CA: %w", err)
	}
	return back, nil
}

// WriteBundle (re)writes bundle.pem: the system roots without any netpolicy
// CA, then ca.pem.
func (s Store) WriteBundle(ca *CA) error {
	return atomicfile.ReplaceFile(s.BundlePath(), ca.Bundle(s.Getenv), 0o644)
}

// LoadOrInit loads the CA, creating it first when the directory holds none;
// created says which.
func (s Store) LoadOrInit(now time.Time) (ca *CA, warning string, created bool, err error) {
	ca, warning, err = s.Load(now)
	if errors.Is(err, ErrNoCA) {
		ca, err = s.Init(now, false)
		return ca, "", err == nil, err
	}
	return ca, warning, false, err
}

// Load reads the CA of the directory after checking that nobody else could
// have changed it: the directory and both files must be owned by the
// running user, not be symlinks, not be writable by group or others, and
// the key must not be readable by them. The pair must match and the CA must
// not have expired; warning is set when it expires within ExpiryWarning.
// With no CA in the directory the error is ErrNoCA.
func (s Store) Load(now time.Time) (ca *CA, warning string, err error) {
	if _, err := os.Lstat(s.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("%s: %w", s.Dir, ErrNoCA)
	}
	if err := checkSafe(s.Dir, true, false); err != nil {
		return nil, "", err
	}
	if !s.Exists() {
		return nil, "", fmt.Errorf("%s: %w", s.Dir, ErrNoCA)
	}
	if err := checkSafe(s.CertPath(), false, false); err != nil {
		return nil, "", err
	}
	if err := checkSafe(s.KeyPath(), false, true); err != nil {
		return nil, "", err
	}
	certPEM, err := os.ReadFile(s.CertPath())
	if err != nil {
		return nil, "", err
	}
	keyPEM, err := os.ReadFile(s.KeyPath())
	if err != nil {
		return nil, "", err
	}
	cert, key, err := parsePair(certPEM, keyPEM)
	if err != nil {
		return nil, "", &UnsafeError{Path: s.Dir, Problem: err.Error(), Fix: "create a new CA with `netpolicy ca init --force`"}
	}
	if !now.Before(cert.NotAfter) {
		return nil, "", &UnsafeError{Path: s.CertPath(), Problem: "the CA expired on " + cert.NotAfter.UTC().Format(time.DateOnly),
			Fix: "create a new CA with `netpolicy ca init --force`, then trust the new ca.pem"}
	}
	ca, err = fromParts(cert.Raw, key)
	if err != nil {
		return nil, "", err
	}
	if ca.ExpiresSoon(now) {
		warning = fmt.Sprintf("the CA %s expires on %s; renew it with `netpolicy ca init --force`", s.CertPath(), cert.NotAfter.UTC().Format(time.DateOnly))
	}
	return ca, warning, nil
}

// KeySafe reports whether ca-key.pem passes Load's checks, and if not why.
func (s Store) KeySafe() error {
	if err := checkSafe(s.Dir, true, false); err != nil {
		return err
	}
	return checkSafe(s.KeyPath(), false, true)
}

// ensureDir makes the directory 0700 when missing and checks it.
func (s Store) ensureDir() error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	return checkSafe(s.Dir, true, false)
}

// checkSafe refuses a path that another user could have written: a
// symlink, one owned by someone else, one writable by group or others, and
// for the key one readable by them.
func checkSafe(path string, dir, secret bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	what := "file"
	if dir {
		what = "directory"
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return &UnsafeError{Path: path, Problem: "the " + what + " is a symlink",
			Fix: "replace the symlink with the real " + what + " (or point --ca-dir at it)"}
	}
	if dir != fi.IsDir() || !dir && !fi.Mode().IsRegular() {
		return &UnsafeError{Path: path, Problem: "not a " + what, Fix: "remove it, then run `netpolicy ca init`"}
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Getuid() {
		return &UnsafeError{Path: path, Problem: fmt.Sprintf("the %s is owned by uid %d, not by you (uid %d)", what, uid, os.Getuid()),
			Fix: "use a CA directory of your own with --ca-dir or NETPOLICY_CA_DIR"}
	}
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 {
		want := "644"
		if dir || secret {
			want = "700"
			if secret {
				want = "600"
			}
		}
		return &UnsafeError{Path: path, Problem: fmt.Sprintf("the %s is writable by group or others (mode %04o)", what, perm),
			Fix: fmt.Sprintf("chmod %s %s", want, path)}
	}
	if secret && perm&0o077 != 0 {
		return &UnsafeError{Path: path, Problem: fmt.Sprintf("the CA key is readable by group or others (mode %04o)", perm),
			Fix: "chmod 600 " + path}
	}
	return nil
}

// ReadCert reads ca.pem without Load's checks, for `ca show`, which reports
// an unsafe CA rather than refusing to describe it.
func (s Store) ReadCert() (*x509.Certificate, error) {
	data, err := os.ReadFile(s.CertPath())
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("ca.pem: no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}
