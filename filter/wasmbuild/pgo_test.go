package wasmbuild

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPGOFlags(t *testing.T) {
	tests := []struct {
		pgo, want string
	}{
		{"", "-pgo=auto"},
		{"auto", "-pgo=auto"},
		{"off", "-pgo=off"},
		{"/tmp/x.pgo", "-pgo=/tmp/x.pgo"},
	}
	for _, tt := range tests {
		flags := pgoFlags(tt.pgo)
		if flags[0] != tt.want {
			t.Errorf("pgoFlags(%q)[0] = %q, want %q", tt.pgo, flags[0], tt.want)
		}
		// Every package loses profile-guided inlining and devirtualisation,
		// then the project's packages (a later -gcflags wins) get inlining
		// back with the budget.
		all := slices.Index(flags, "-gcflags=all=-d=pgoinline=0,pgodevirtualize=0")
		own := slices.Index(flags, "-gcflags="+projectPackages+"=-d=pgoinlinebudget=400")
		if all < 0 || own < 0 || own < all {
			t.Errorf("pgoFlags(%q) = %q: want the standard library's and SDK's code without the profile, then the project's with it", tt.pgo, flags)
		}
	}
}

// The committed profile must be a CPU profile of the filter's request
// path, or the build would optimise something else.
func TestProfileIsOfTheRequestPath(t *testing.T) {
	root := repoRoot(t)
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=400", filepath.Join(root, ProfilePath)).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof %s: %v\n%s", ProfilePath, err, out)
	}
	text := string(out)
	if !strings.Contains(text, "Type: cpu") {
		t.Errorf("%s is not a CPU profile:\n%s", ProfilePath, text)
	}
	for _, fn := range []string{
		"mcp-ratelimit-wasm/filter/jsonrpc.readQuick",
		"mcp-ratelimit-wasm/bucket.(*StoreLimiter).Take",
		"mcp-ratelimit-wasm/filter.(*httpContext).OnHttpRequestBody",
	} {
		if !strings.Contains(text, fn) {
			t.Errorf("%s has no samples in %s; regenerate it with make pgo", ProfilePath, fn)
		}
	}
}
