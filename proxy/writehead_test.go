package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestWriteBodilessHead: the head writeBodilessHead writes for a GET or
// HEAD without a body has the same lines as Request.Write's, in any order.
func TestWriteBodilessHead(t *testing.T) {
	for _, tt := range []struct {
		name, method, url, host string
		header                  http.Header
	}{
		{"plain", "GET", "https://example.com/", "", http.Header{"User-Agent": {""}, "Accept": {"*/*"}}},
		{"query and Host", "HEAD", "https://example.com/a%20b?x=1&y", "example.com:8443", http.Header{"User-Agent": {"curl/8"}}},
		{"default User-Agent", "GET", "http://example.com/p", "", http.Header{"X-A": {"1", "2"}}},
		{"line breaks in values", "GET", "http://example.com/", "", http.Header{"User-Agent": {"a\r\nb"}, "X-B": {" c\nd "}}},
		{"excluded and invalid names", "GET", "http://example.com/", "", http.Header{"Host": {"other"}, "Content-Length": {"5"}, "Transfer-Encoding": {"chunked"}, "Trailer": {"X"}, "Bad Name": {"v"}, "User-Agent": {""}}},
		{"zone", "GET", "http://[fe80::1%25en0]:8080/", "", http.Header{"User-Agent": {""}}},
		{"invalid host", "GET", "http://example.com/", "exa mple", http.Header{"User-Agent": {""}}},
		{"IDN", "GET", "http://bücher.example/", "", http.Header{"User-Agent": {""}}},
		{"opaque", "GET", "", "", http.Header{"User-Agent": {""}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := url.Parse(tt.url)
			if tt.url == "" {
				u = &url.URL{Scheme: "https", Opaque: "//example.com/o"}
			}
			r := &http.Request{Method: tt.method, URL: u, Host: tt.host, Header: tt.header}
			var want, got bytes.Buffer
			if err := r.Write(&want); err != nil {
				t.Fatal(err)
			}
			bw := bufio.NewWriter(&got)
			if err := writeBodilessHead(bw, r); err != nil {
				t.Fatal(err)
			}
			bw.Flush()
			if w, g := lines(want.String()), lines(got.String()); !slices.Equal(w, g) {
				t.Errorf("lines\n got %q\nwant %q", g, w)
			}
		})
	}
	r := &http.Request{Method: "GET", URL: &url.URL{Opaque: "/a\x01b"}, Host: "example.com", Header: http.Header{}}
	if err := r.Write(&bytes.Buffer{}); err == nil {
		t.Fatal("Request.Write wrote a control character: the test checks nothing")
	}
	if err := writeBodilessHead(bufio.NewWriter(&bytes.Buffer{}), r); err == nil {
		t.Error("a control character in the target was written")
	}
}

// lines are the request line (first) and the sorted header lines of a head.
func lines(head string) []string {
	l := strings.Split(head, "\r\n")
	slices.Sort(l[1:])
	return l
}
