// Package tlsca is the local certificate authority of HTTPS interception
// (POLICY §6): it creates, stores and loads the CA, refuses a CA whose files
// another user could have changed, mints short-lived leaf certificates for
// the hosts the proxy intercepts, and builds the root pools on both sides of
// the proxy — bundle.pem for clients, and the system roots without any
// netpolicy CA for the proxy's own upstream connections.
//
// The CA key is the crown jewel: whoever holds it can impersonate any site to
// every client that trusts the CA. It is written once, 0600, in a 0700
// directory of the user's own, and never leaves this package except as the
// signer of leaves.
package tlsca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"
)

// SubjectPrefix starts the subject common name of every netpolicy CA. A
// certificate whose subject starts with it is never trusted for upstream
// connections and never copied into bundle.pem from the system roots.
const SubjectPrefix = "netpolicy local CA"

// Validity of a new CA.
const caValidity = 365 * 24 * time.Hour

// ExpiryWarning is how long before its expiry a CA is reported as expiring.
const ExpiryWarning = 30 * 24 * time.Hour

// CA is a loaded or freshly made certificate authority. It is safe for
// concurrent use.
type CA struct {
	// Cert is the CA certificate; CertPEM its PEM encoding (ca.pem).
	Cert    *x509.Certificate
	CertPEM []byte

	// OnMint, if set before the CA is used, is called once per leaf
	// minted (a cache miss): serve counts them in its metrics.
	OnMint func()

	key    crypto.Signer
	leaves *leafCache
}

// New makes a CA in memory (subject `netpolicy local CA (<hostname>,
// <date>)`, valid one year from now), for `exec` and for tests; Init stores
// one on disk.
func New(now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{
			CommonName: fmt.Sprintf("%s (%s, %s)", SubjectPrefix, host, now.UTC().Format("2006-01-02")),
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId:          keyID(pub),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return fromParts(der, key)
}

func fromParts(der []byte, key crypto.Signer) (*CA, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{
		Cert:    cert,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:     key,
		leaves:  newLeafCache(DefaultCacheSize, cert.NotAfter),
	}, nil
}

// keyID is the subject key identifier of a public key (RFC 5280 §4.2.1.2,
// method 1 over the whole SubjectPublicKeyInfo, as Go itself does).
func keyID(spki []byte) []byte {
	h := sha1.Sum(spki)
	return h[:]
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return n.Add(n, big.NewInt(1))
}

// Fingerprint is the SHA-256 fingerprint of the CA certificate, as
// colon-separated upper-case hex.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.Cert) }

// Fingerprint is the SHA-256 fingerprint of c, as colon-separated
// upper-case hex.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// ExpiresSoon reports whether the CA expires within ExpiryWarning of now.
func (ca *CA) ExpiresSoon(now time.Time) bool {
	return ca.Cert.NotAfter.Sub(now) < ExpiryWarning
}

// IsNetpolicyCA reports whether c is a netpolicy CA (its subject starts
// with SubjectPrefix): such a certificate is never trusted upstream.
func IsNetpolicyCA(c *x509.Certificate) bool {
	return strings.HasPrefix(c.Subject.CommonName, SubjectPrefix) ||
		strings.HasPrefix(c.Subject.String(), "CN="+SubjectPrefix)
}

// errKeyMismatch is returned when ca.pem and ca-key.pem are not a pair.
var errKeyMismatch = errors.New("certificate and key do not match")

// parseKey reads a PEM private key (PKCS #8 or SEC 1 EC).
func parseKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, errors.New("unsupported key type")
		}
		return s, nil
	}
	k, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	return k, nil
}

func marshalKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parsePair checks that certPEM and keyPEM are a CA certificate and its key.
func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, nil, errors.New("ca.pem: no PEM certificate")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("ca.pem: %w", err)
	}
	if !cert.IsCA {
		return nil, nil, errors.New("ca.pem: not a CA certificate")
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("ca-key.pem: %w", err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, nil, errKeyMismatch
	}
	return cert, key, nil
}
