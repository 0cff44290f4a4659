package tlsca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/netpolicy/netpolicy/internal/lru"
)

// Leaf validity (POLICY §6): from an hour ago (clocks of clients differ) for
// at most a week, never past the CA.
const (
	LeafBackdate = time.Hour
	LeafValidity = 7 * 24 * time.Hour
	// leafRenew is how long before its expiry a cached leaf is minted anew,
	// so that no handshake is served a certificate about to expire.
	leafRenew = 24 * time.Hour
)

// DefaultCacheSize bounds the leaves a CA keeps in memory.
const DefaultCacheSize = 1024

// ErrCAExpired is returned when a leaf is asked of an expired CA.
var ErrCAExpired = errors.New("the CA has expired")

// Leaf returns a certificate for host (a normalised DNS name or an IP
// literal) signed by the CA, from the cache when it holds one that is still
// fresh. Concurrent calls for one host mint once.
func (ca *CA) Leaf(host string) (*tls.Certificate, error) {
	return ca.LeafAt(host, time.Now())
}

// LeafAt is Leaf with the clock given.
func (ca *CA) LeafAt(host string, now time.Time) (*tls.Certificate, error) {
	if c := ca.leaves.get(host, now); c != nil {
		return c, nil
	}
	v, err, _ := ca.leaves.flight.Do(host, func() (any, error) {
		if c := ca.leaves.get(host, now); c != nil {
			return c, nil
		}
		c, err := ca.mint(host, now)
		if err != nil {
			return nil, err
		}
		ca.leaves.put(host, c)
		ca.leaves.mints.Add(1)
		if ca.OnMint != nil {
			ca.OnMint()
		}
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*tls.Certificate), nil
}

// Mints returns how many leaves the CA has minted (cache misses).
func (ca *CA) Mints() int64 { return ca.leaves.mints.Load() }

// mint makes a leaf for host: ECDSA P-256 (one fresh key per leaf), SAN =
// host, digitalSignature, serverAuth, subject and authority key ids.
func (ca *CA) mint(host string, now time.Time) (*tls.Certificate, error) {
	if host == "" {
		return nil, errors.New("tlsca: no host for the certificate")
	}
	notAfter := now.Add(LeafValidity)
	if ca.Cert.NotAfter.Before(notAfter) {
		notAfter = ca.Cert.NotAfter
	}
	if !notAfter.After(now) {
		return nil, ErrCAExpired
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	notBefore := now.Add(-LeafBackdate)
	if notBefore.Before(ca.Cert.NotBefore) {
		notBefore = ca.Cert.NotBefore
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: host},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          keyID(pub),
		AuthorityKeyId:        ca.Cert.SubjectKeyId,
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("tlsca: mint %s: %w", host, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// leafCache is a bounded LRU of minted leaves, with the singleflight group
// that coalesces concurrent mints.
type leafCache struct {
	cache  *lru.Cache[string, *tls.Certificate]
	flight singleflight.Group
	mints  atomic.Int64
	// caEnd is the CA's expiry: a leaf that ends with it cannot be
	// renewed for longer, so it is kept until it expires.
	caEnd time.Time
}

func newLeafCache(max int, caEnd time.Time) *leafCache {
	return &leafCache{cache: lru.New[string, *tls.Certificate](max, 0), caEnd: caEnd}
}

// get returns host's leaf if it is cached and not about to expire.
func (c *leafCache) get(host string, now time.Time) *tls.Certificate {
	cert, _ := c.cache.Get(host, func(cert *tls.Certificate) bool {
		end := cert.Leaf.NotAfter
		return now.Before(end) && (end.Sub(now) >= leafRenew || !end.Before(c.caEnd))
	})
	return cert
}

func (c *leafCache) put(host string, cert *tls.Certificate) { c.cache.Put(host, cert, 0) }

// Len returns how many leaves are cached.
func (c *leafCache) Len() int { return c.cache.Len() }
