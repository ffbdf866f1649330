package filter_test

import (
	"net/netip"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter"
)

// ipTexts cover each rule of netip.ParseAddr's grammar, and the canonical
// forms of RFC 5952.
var ipTexts = []string{
	"", ".", ":", "%", "%eth0", "x", "1", "localhost", "/var/run/envoy.sock",
	// IPv4
	"0.0.0.0", "10.0.0.1", "255.255.255.255", "192.0.2.1", "1.2.3.4",
	"256.0.0.1", "1.2.3", "1.2.3.4.5", "1..2.3", ".1.2.3", "1.2.3.", "01.2.3.4", "1.2.3.00", "1.2.3.0",
	"1.2.3.4%eth0", "1.2.3.4:80", "1.2.3.a", "1.2.3.-4", "1.2.3.4 ", " 1.2.3.4", "999.1.1.1", "1.2.3.2555",
	// IPv6
	"::", "::1", "1::", "::%eth0", "2001:db8::1", "2001:DB8:0:0:0:0:0:1", "2001:0db8:0000:0000:0000:ff00:0042:8329",
	"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "1::2:3:4:5:6:7:8",
	"1:0:0:2:0:0:0:3", "1:0:0:0:2:0:0:3", "1:0:2:0:3:0:4:0", "0:0:1:0:0:1:0:0", "1:0:0:0:0:0:0:0", "0:0:0:0:0:0:0:1",
	"1:2:3:4:0:6:7:8", "0:1:2:3:4:5:6:7", "1:2:3:4:5:6:7:0", "12345::", "1:::2", ":1::", "1::2::3", "1:2:", ":1:2",
	"fe80::1%eth0", "fe80::1%", "fe80::1%%", "fe80::1%a%b", "fe80::1%eth0:1", "[::1]", "::g", "::fffff", "::ffff",
	"::ffff:192.0.2.1", "::ffff:c000:0201", "::FFFF:192.0.2.1%eth0", "0:0:0:0:0:ffff:1.2.3.4", "::ffff:1.2.3",
	"::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "1::1.2.3.4", "1::2:3:4:5:6:1.2.3.4",
	"::1.2.3.4:5", "::1.2.3.04", "::12345.1.1.1", "::ffff:0:1.2.3.4", "64:ff9b::192.0.2.33", "::0.0.0.0",
	"1:2:3:4:5:6:7:8%eth0", "::ffff:1.2.3.4%", "2001:db8:0:0:1:0:0:1", "2001:db8::a:b:c:d:e",
}

// TestCanonicalIPMatchesNetip holds canonicalIP to netip: the same
// addresses accepted, written the same way.
func TestCanonicalIPMatchesNetip(t *testing.T) {
	for _, s := range ipTexts {
		checkCanonicalIP(t, s)
	}
}

// FuzzCanonicalIP checks the same on any text.
func FuzzCanonicalIP(f *testing.F) {
	for _, s := range ipTexts {
		f.Add(s)
	}
	f.Fuzz(checkCanonicalIP)
}

func checkCanonicalIP(t *testing.T, s string) {
	got, ok := filter.CanonicalIP(s)
	want, err := netip.ParseAddr(s)
	switch {
	case ok != (err == nil):
		t.Errorf("CanonicalIP(%q) = %q, %t; netip: %v, %v", s, got, ok, want, err)
	case ok && got != want.Unmap().String():
		t.Errorf("CanonicalIP(%q) = %q; netip writes %q", s, got, want.Unmap().String())
	}
}
