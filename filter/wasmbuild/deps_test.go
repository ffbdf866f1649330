package wasmbuild

import (
	"bytes"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const (
	projectModule = "github.com/mcp-ratelimit/mcp-ratelimit-wasm"
	sdkModule     = "github.com/tetratelabs/proxy-wasm-go-sdk"
	gjsonModule   = "github.com/tidwall/gjson"
)

// shippedPackages are the project's packages the module is made of; the
// test helpers, the build tool, the local host and the image tool must
// never be among them.
var shippedPackages = []string{
	projectModule,
	projectModule + "/bucket",
	projectModule + "/bucket/internal/random",
	projectModule + "/bucket/internal/sha256",
	projectModule + "/bucket/redis",
	projectModule + "/filter",
	projectModule + "/filter/config",
	projectModule + "/filter/internal/jsonnum",
	projectModule + "/filter/internal/stdbase64",
	projectModule + "/filter/internal/wallclock",
	projectModule + "/filter/jsonrpc",
	projectModule + "/filter/tzdb",
}

// goListWasm runs go list with args in root for GOOS=wasip1 GOARCH=wasm
// and returns its output.
func goListWasm(t *testing.T, root string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "go", append([]string{"list"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// wasmDeps lists the non-standard packages that the packages named by args
// import, directly or not, when built for GOOS=wasip1 GOARCH=wasm, as
// "importpath module" lines.
func wasmDeps(t *testing.T, root string, args ...string) map[string]string {
	t.Helper()
	out := goListWasm(t, root, append([]string{"-deps",
		"-f", "{{if not .Standard}}{{.ImportPath}} {{with .Module}}{{.Path}}{{end}}{{end}}"}, args...)...)
	deps := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		pkg, module, _ := strings.Cut(line, " ")
		deps[pkg] = module
	}
	return deps
}

// TestShippedModuleImportsOnlyTheSDKAndGjson proves what the one go.mod
// costs the shipped module: although the repository's tools and tests
// require many modules (go-control-plane, wazero, the MCP SDK, Kubernetes
// and Istio libraries, go-containerregistry), the .wasm links only what
// main.go imports, and that is the project's own pure packages, the
// proxy-wasm SDK and gjson (with gjson's own imports) besides the standard
// library. See docs/design.md.
func TestShippedModuleImportsOnlyTheSDKAndGjson(t *testing.T) {
	root := repoRoot(t)
	allowed := map[string]bool{projectModule: true, sdkModule: true}
	for _, module := range wasmDeps(t, root, gjsonModule) {
		allowed[module] = true
	}
	if !allowed[gjsonModule] {
		t.Fatalf("go list found no module for %s", gjsonModule)
	}
	deps := wasmDeps(t, root, ".")
	var own []string
	for pkg, module := range deps {
		switch {
		case !allowed[module]:
			t.Errorf("the module imports %s (module %q): only the proxy-wasm SDK and gjson may enter the .wasm", pkg, module)
		case module == projectModule:
			own = append(own, pkg)
		}
	}
	sort.Strings(own)
	if strings.Join(own, " ") != strings.Join(shippedPackages, " ") {
		t.Errorf("the module is made of the project's packages\n%s\nwant\n%s",
			strings.Join(own, "\n"), strings.Join(shippedPackages, "\n"))
	}
	for _, module := range []string{sdkModule, gjsonModule} {
		found := false
		for _, m := range deps {
			found = found || m == module
		}
		if !found {
			t.Errorf("the module does not import %s: update this test and docs/design.md", module)
		}
	}
}

// TestShippedPackagesStartNoGoroutine holds the shipped packages to what
// bucket/sync_wasip1.go relies on: inside the VM only the host's callbacks
// run the project's code, one at a time, so the limiter's locks and
// atomics are plain fields there. A go statement in a shipped package
// (tests aside) would let two goroutines share a limiter unguarded.
func TestShippedPackagesStartNoGoroutine(t *testing.T) {
	out := goListWasm(t, repoRoot(t), append([]string{"-f", `{{.Dir}}{{range .GoFiles}} {{.}}{{end}}`}, shippedPackages...)...)
	files := 0
	fset := token.NewFileSet()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		for _, name := range fields[1:] {
			path := filepath.Join(fields[0], name)
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatalf("parse %s: %v", path, err)
			}
			files++
			ast.Inspect(f, func(n ast.Node) bool {
				if g, ok := n.(*ast.GoStmt); ok {
					t.Errorf("%s: a go statement in a shipped package (see bucket/sync_wasip1.go)", fset.Position(g.Pos()))
				}
				return true
			})
		}
	}
	if files < len(shippedPackages) {
		t.Fatalf("read %d files of %d packages: go list printed\n%s", files, len(shippedPackages), out)
	}
}
