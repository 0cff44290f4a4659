package tlsca

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
)

// The places crypto/x509 reads the system roots from on Linux, in its order
// (crypto/x509/root_linux.go): the first bundle file that can be read, then
// every file of each directory.
var (
	systemCertFiles = []string{
		"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo, Arch
		"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL 6
		"/etc/ssl/ca-bundle.pem",                            // OpenSUSE
		"/etc/pki/tls/cacert.pem",                           // OpenELEC
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
		"/etc/ssl/cert.pem",                                 // Alpine
	}
	systemCertDirs = []string{
		"/etc/ssl/certs",     // SLES 10/11
		"/etc/pki/tls/certs", // Fedora, RHEL
	}
)

// SystemRoots returns the system's root certificates the way crypto/x509
// finds them on Linux — SSL_CERT_FILE replaces the list of bundle files,
// SSL_CERT_DIR (colon-separated) the list of directories — without any
// netpolicy CA and without duplicates, in the order found. getenv is
// os.Getenv unless a test injects another.
func SystemRoots(getenv func(string) string) []*x509.Certificate {
	if getenv == nil {
		getenv = os.Getenv
	}
	files := systemCertFiles
	if f := getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	dirs := systemCertDirs
	if d := getenv("SSL_CERT_DIR"); d != "" {
		dirs = strings.Split(d, ":")
	}
	var out []*x509.Certificate
	seen := map[[32]byte]bool{}
	add := func(data []byte) {
		for len(data) > 0 {
			var b *pem.Block
			b, data = pem.Decode(data)
			if b == nil {
				return
			}
			if b.Type != "CERTIFICATE" || len(b.Headers) != 0 {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil || IsNetpolicyCA(c) {
				continue
			}
			sum := sha256.Sum256(c.Raw)
			if seen[sum] {
				continue
			}
			seen[sum] = true
			out = append(out, c)
		}
	}
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil {
			add(data)
			break
		}
	}
	for _, d := range dirs {
		for _, name := range uniqueDirEntries(d) {
			if data, err := os.ReadFile(filepath.Join(d, name)); err == nil {
				add(data)
			}
		}
	}
	return out
}

// uniqueDirEntries lists dir's entries, leaving out symlinks to files of the
// same directory (the hash links of c_rehash), as crypto/x509 does.
func uniqueDirEntries(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		if e.Type()&os.ModeSymlink != 0 {
			if t, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && !strings.Contains(t, "/") {
				continue
			}
		}
		names = append(names, e.Name())
	}
	return names
}

// UpstreamPool is the pool the proxy verifies origins against: the system
// roots (SystemRoots, so never a netpolicy CA, even when SSL_CERT_FILE
// points at bundle.pem).
func UpstreamPool(getenv func(string) string) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range SystemRoots(getenv) {
		p.AddCert(c)
	}
	return p
}

// Bundle is the content of bundle.pem: the system roots, then the CA.
func (ca *CA) Bundle(getenv func(string) string) []byte {
	var b bytes.Buffer
	for _, c := range SystemRoots(getenv) {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	b.Write(ca.CertPEM)
	return b.Bytes()
}
