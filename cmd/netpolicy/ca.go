package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/netpolicy/netpolicy/policy"
	"github.com/netpolicy/netpolicy/tlsca"
)

// caCommand is the `netpolicy ca` command.
func caCommand(e *env) *cli.Command {
	dir := caDirFlag()
	return &cli.Command{
		Name:      "ca",
		Usage:     "create and inspect the local CA used for HTTPS interception",
		ArgsUsage: "init|path|env|show",
		Description: "The local CA signs the certificates serve shows to clients when it\n" +
			"intercepts HTTPS (mitm = true in limited mode). It lives in the CA\n" +
			"directory: --ca-dir, else NETPOLICY_CA_DIR, else $CODEX_HOME/netpolicy-ca,\n" +
			"else ~/.codex/netpolicy-ca, as ca.pem (0644), ca-key.pem (0600) and\n" +
			"bundle.pem (the system roots followed by ca.pem), in a 0700 directory.\n\n" +
			"   init   create the CA (--force replaces one, keeping the old files as *.old)\n" +
			"   path   print the path of ca.pem (exit 1 when there is none)\n" +
			"   env    the variables that make clients trust the CA (--shell sh|fish|json)\n" +
			"   show   subject, SHA-256 fingerprint, validity, paths, key file safety",
		Subcommands: []*cli.Command{
			{
				Name:   "init",
				Usage:  "create the CA",
				Flags:  []cli.Flag{dir, &cli.BoolFlag{Name: "force", Usage: "replace an existing CA; the old files are kept as *.old"}},
				Action: func(c *cli.Context) error { return runCAInit(c, e) },
			},
			{
				Name:   "path",
				Usage:  "print the path of ca.pem",
				Flags:  []cli.Flag{dir},
				Action: func(c *cli.Context) error { return runCAPath(c, e) },
			},
			{
				Name:   "env",
				Usage:  "print the variables that make clients trust the CA",
				Flags:  []cli.Flag{dir, &cli.StringFlag{Name: "shell", Value: "sh", Usage: "output form: `sh`, fish or json"}},
				Action: func(c *cli.Context) error { return runCAEnv(c, e) },
			},
			{
				Name:   "show",
				Usage:  "describe the CA",
				Flags:  []cli.Flag{dir},
				Action: func(c *cli.Context) error { return runCAShow(c, e) },
			},
		},
	}
}

func caDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "ca-dir", Usage: "the CA directory `DIR` (default: NETPOLICY_CA_DIR, $CODEX_HOME/netpolicy-ca, ~/.codex/netpolicy-ca)"}
}

// caStore is the CA directory that c's --ca-dir and the environment name.
func caStore(c *cli.Context, e *env) (tlsca.Store, error) {
	dir, err := tlsca.Dir(c.String("ca-dir"), e.getenv)
	if err != nil {
		return tlsca.Store{}, err
	}
	return tlsca.Store{Dir: dir, Getenv: e.getenv}, nil
}

// noCA is the error of a ca command that needs a CA where there is none.
func noCA(name string, st tlsca.Store) error {
	return exitCode(exitFindings, "netpolicy %s: no CA in %s (create one with `netpolicy ca init`)", name, st.Dir)
}

// caCommandStore is the CA store of the command `netpolicy NAME` (ca init,
// path, env, show): it takes no arguments, and a CA directory that cannot
// be named is a usage error.
func caCommandStore(c *cli.Context, e *env, name string) (tlsca.Store, error) {
	if c.Args().Len() > 0 {
		return tlsca.Store{}, exitCode(exitUsage, "netpolicy %s: unexpected argument %q", name, c.Args().First())
	}
	st, err := caStore(c, e)
	if err != nil {
		return tlsca.Store{}, exitCode(exitUsage, "netpolicy %s: %v", name, err)
	}
	return st, nil
}

// existingCA is caCommandStore for a command that needs the CA
// certificate to exist (noCA when it does not).
func existingCA(c *cli.Context, e *env, name string) (tlsca.Store, error) {
	st, err := caCommandStore(c, e, name)
	if err != nil {
		return st, err
	}
	if _, err := os.Stat(st.CertPath()); err != nil {
		return st, noCA(name, st)
	}
	return st, nil
}

func runCAInit(c *cli.Context, e *env) error {
	st, err := caCommandStore(c, e, "ca init")
	if err != nil {
		return err
	}
	ca, err := st.Init(time.Now(), c.Bool("force"))
	if err != nil {
		return exitCode(exitUsage, "netpolicy ca init: %v", err)
	}
	fmt.Fprintf(e.stderr, "netpolicy ca init: created %s (SHA-256 %s), valid until %s\n",
		ca.Cert.Subject.CommonName, ca.Fingerprint(), ca.Cert.NotAfter.UTC().Format(time.DateOnly))
	fmt.Fprintln(e.stdout, st.CertPath())
	return nil
}

func runCAPath(c *cli.Context, e *env) error {
	st, err := existingCA(c, e, "ca path")
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, st.CertPath())
	return nil
}

// caEnv returns the variables that make clients trust the CA (POLICY §7):
// the bundle for clients whose setting replaces the system roots, ca.pem
// for Node, which adds to its own.
func caEnv(bundle, cert string) map[string]string {
	m := map[string]string{"NODE_EXTRA_CA_CERTS": cert}
	for _, k := range []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT", "GIT_SSL_CAINFO", "CARGO_HTTP_CAINFO", "AWS_CA_BUNDLE"} {
		m[k] = bundle
	}
	return m
}

func runCAEnv(c *cli.Context, e *env) error {
	shell := c.String("shell")
	switch shell {
	case "sh", "fish", "json":
	default:
		return exitCode(exitUsage, "netpolicy ca env: --shell %q: want sh, fish or json", shell)
	}
	st, err := existingCA(c, e, "ca env")
	if err != nil {
		return err
	}
	vars := caEnv(st.BundlePath(), st.CertPath())
	if shell == "json" {
		b, _ := json.Marshal(vars) // keys sorted
		fmt.Fprintf(e.stdout, "%s\n", b)
		return nil
	}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if shell == "fish" {
			fmt.Fprintf(e.stdout, "set -gx %s %s\n", k, shQuote(vars[k]))
		} else {
			fmt.Fprintf(e.stdout, "export %s=%s\n", k, shQuote(vars[k]))
		}
	}
	return nil
}

// shQuote single-quotes s for sh and fish.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func runCAShow(c *cli.Context, e *env) error {
	st, err := caCommandStore(c, e, "ca show")
	if err != nil {
		return err
	}
	cert, err := st.ReadCert()
	if errors.Is(err, fs.ErrNotExist) {
		return noCA("ca show", st)
	}
	if err != nil {
		return exitCode(exitUsage, "netpolicy ca show: %v", err)
	}
	w := e.stdout
	fmt.Fprintf(w, "subject:     %s\n", cert.Subject.CommonName)
	fmt.Fprintf(w, "sha256:      %s\n", tlsca.Fingerprint(cert))
	fmt.Fprintf(w, "not before:  %s\n", cert.NotBefore.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "not after:   %s\n", cert.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "certificate: %s\n", st.CertPath())
	fmt.Fprintf(w, "key:         %s\n", st.KeyPath())
	fmt.Fprintf(w, "bundle:      %s\n", st.BundlePath())
	if err := st.KeySafe(); err != nil {
		fmt.Fprintf(w, "key safety:  unsafe: %v\n", err)
	} else {
		fmt.Fprintln(w, "key safety:  safe (0600, yours, in a directory only you can write)")
	}
	// Everything else serve would check: the pair, expiry, the files.
	if _, warning, err := st.Load(time.Now()); err != nil {
		fmt.Fprintf(w, "usable:      no: %v\n", err)
	} else {
		fmt.Fprintln(w, "usable:      yes")
		if warning != "" {
			fmt.Fprintf(e.stderr, "netpolicy ca show: warning: %s\n", warning)
		}
	}
	return nil
}

// setupCA gives the proxy its CA when the policy intercepts (POLICY §6):
// the CA directory's, created when there is none (and said so), with
// bundle.pem written afresh so that a root-store update is picked up; or,
// for exec without --ca-dir, one made for this run (memory). An unsafe,
// mismatched or expired CA refuses the start (exit 2) with how to fix it.
// A policy that does not intercept needs none at start; s.enableCA does
// the same later, for a reload that turns interception on.
func (s *server) setupCA(c *cli.Context, compiled *policy.Compiled, memory bool) error {
	s.enableCA = func() error { return s.loadCA(c, memory) }
	if !compiled.Intercepts() {
		return nil
	}
	if err := s.loadCA(c, memory); err != nil {
		return exitCode(exitUsage, "netpolicy %s: %v", s.name, err)
	}
	return nil
}

// loadCA is setupCA's work, at start or on a reload.
func (s *server) loadCA(c *cli.Context, memory bool) error {
	if memory && c.String("ca-dir") == "" {
		ca, err := tlsca.New(time.Now())
		if err != nil {
			return err
		}
		s.useCA(ca)
		return nil
	}
	st, err := caStore(c, s.e)
	if err != nil {
		return err
	}
	ca, warning, created, err := st.LoadOrInit(time.Now())
	if err != nil {
		return err
	}
	if created {
		s.log("created the interception CA %s; make clients trust it (netpolicy ca env prints how)", st.CertPath())
	} else if err := st.WriteBundle(ca); err != nil {
		return fmt.Errorf("writing %s: %w", st.BundlePath(), err)
	}
	if warning != "" {
		s.log("warning: %s", warning)
	}
	s.useCA(ca)
	return nil
}

// useCA gives the proxy ca, with its mints counted in the metrics.
func (s *server) useCA(ca *tlsca.CA) {
	if m := s.tel.metrics; m != nil {
		ca.OnMint = m.CertMinted
	}
	s.proxy.SetCA(ca)
}
