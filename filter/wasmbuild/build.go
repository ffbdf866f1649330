// Package wasmbuild builds the project's proxy-wasm module with the
// installed (standard) Go toolchain: GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared.
//
// The proxy-wasm Go SDK v0.24.0 only produces a working module under
// TinyGo. Prepare makes a build workspace in which it does under standard
// Go too, without changing any SDK file:
//
//   - <work>/sdk: a writable copy of the SDK from the module cache, plus the
//     project's glue files from filter/wasmbuild/_glue added to its
//     proxywasm/internal package (//go:wasmimport host calls and
//     //go:wasmexport callbacks; see filter/wasmbuild/README.md);
//   - <work>/gjson: a copy of the gjson version go.mod requires;
//   - <work>/go.work: a workspace of the project and those copies, so the
//     project's imports of the SDK and of gjson resolve to them;
//   - <work>/overlay.json: a `go build -overlay` that replaces the Go
//     runtime's netpoll_wasip1.go with a patched copy generated from the
//     installed GOROOT (see PatchNetpoll), for Envoy 1.33-1.38, and the
//     gjson copy's gjson.go with one whose init registers no path modifier
//     (see PatchGJSON), which keeps encoding/json out of the module;
//     <work>/overlay-stock-runtime.json has the gjson patch only.
//
// Build compiles the project's packages with the main package's profile
// (default.pgo, see pgoFlags), and then makes the linked module's forward
// jumps and function entries direct (package internal/jumpthread), which
// Go's Wasm backend sends through each function's dispatch loop.
//
// The Makefile drives it through cmd/wasmbuild; tests use it to build
// their probe plugins the same way.
package wasmbuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/wasmbuild/internal/jumpthread"
)

// Config says where the project and the build workspace are.
type Config struct {
	// RepoRoot is the folder of the project's go.mod. Required.
	RepoRoot string
	// WorkDir receives the SDK copy, go.work and the runtime overlay.
	// Required; the Makefile uses <RepoRoot>/build.
	WorkDir string
	// GlueDir holds the glue files. Default: <RepoRoot>/filter/wasmbuild/_glue.
	GlueDir string
	// Go is the go command. Default: "go".
	Go string
	// Stderr receives the go command's diagnostics. Default: os.Stderr.
	Stderr io.Writer
}

// Workspace is a prepared build workspace.
type Workspace struct {
	cfg          Config
	goWork       string
	overlay      string
	stockOverlay string
	goVersion    string
	glueFiles    []string
}

// Target is one module to build.
type Target struct {
	// Package is the main package to build, as the go command takes it
	// from RepoRoot (for example "." or "./filter/wasmtest/testdata/probe").
	Package string
	// Output is the .wasm file to write.
	Output string
	// StockRuntime builds without the runtime patch (for tests that need
	// a module which crashes on Envoy 1.33-1.38); the gjson patch applies
	// all the same.
	StockRuntime bool
	// LDFlags are passed to -ldflags, after GJSONLDFlags.
	LDFlags string
	// DispatchJumps leaves every jump of the module going through Go's
	// dispatch loop, as the linker wrote it, instead of making the
	// forward ones and the functions' entries direct (package jumpthread).
	DispatchJumps bool
	// PGO is the go command's -pgo: "" or "auto" applies the main
	// package's default.pgo if it has one, "off" none, a path that file
	// (see pgoFlags).
	PGO string
}

// Prepare creates or refreshes the build workspace in cfg.WorkDir. It is
// idempotent and rewrites nothing that is already up to date, so builds can
// share one workspace.
func Prepare(ctx context.Context, cfg Config) (*Workspace, error) {
	if cfg.RepoRoot == "" || cfg.WorkDir == "" {
		return nil, errors.New("wasmbuild: RepoRoot and WorkDir are required")
	}
	var err error
	if cfg.RepoRoot, err = filepath.Abs(cfg.RepoRoot); err != nil {
		return nil, fmt.Errorf("wasmbuild: %w", err)
	}
	if cfg.WorkDir, err = filepath.Abs(cfg.WorkDir); err != nil {
		return nil, fmt.Errorf("wasmbuild: %w", err)
	}
	if cfg.GlueDir == "" {
		cfg.GlueDir = filepath.Join(cfg.RepoRoot, "filter", "wasmbuild", "_glue")
	}
	if cfg.Go == "" {
		cfg.Go = "go"
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	w := &Workspace{cfg: cfg}

	goEnv, err := w.goEnv(ctx)
	if err != nil {
		return nil, err
	}
	w.goVersion = goEnv.GOVERSION

	sdkDir, err := w.sdkDir(ctx)
	if err != nil {
		return nil, err
	}
	gjson, err := w.moduleDir(ctx, GJSONModule)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("wasmbuild: %w", err)
	}
	sdkCopy := filepath.Join(cfg.WorkDir, "sdk")
	if w.glueFiles, err = SyncSDKCopy(sdkDir, cfg.GlueDir, sdkCopy); err != nil {
		return nil, fmt.Errorf("wasmbuild: %w", err)
	}
	gjsonCopy := filepath.Join(cfg.WorkDir, "gjson")
	if err := SyncModuleCopy(gjson.Dir, gjsonCopy); err != nil {
		return nil, fmt.Errorf("wasmbuild: %w", err)
	}
	if w.goWork, err = writeGoWork(cfg.WorkDir, cfg.RepoRoot, sdkCopy, gjsonCopy); err != nil {
		return nil, fmt.Errorf("wasmbuild: %w", err)
	}
	if w.overlay, w.stockOverlay, err = writeOverlays(cfg.WorkDir, goEnv.GOROOT, goEnv.GOVERSION, gjsonCopy, gjson.Version); err != nil {
		return nil, fmt.Errorf("wasmbuild: %w", err)
	}
	return w, nil
}

// GoWork is the path of the workspace's go.work.
func (w *Workspace) GoWork() string { return w.goWork }

// Overlay is the path of the -overlay file of the runtime and gjson
// patches.
func (w *Workspace) Overlay() string { return w.overlay }

// GoVersion is the version of the go command the workspace was prepared
// with (and whose runtime the overlay patches).
func (w *Workspace) GoVersion() string { return w.goVersion }

// GlueFiles are the glue files' paths inside the SDK copy.
func (w *Workspace) GlueFiles() []string { return w.glueFiles }

// Env is the environment for go commands that build for the module: the
// current one plus GOWORK, GOOS=wasip1 and GOARCH=wasm.
func (w *Workspace) Env() []string {
	return append(os.Environ(), "GOWORK="+w.goWork, "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
}

// Build builds t. The module is reproducible: paths are trimmed and no VCS
// information is stamped, so the same sources and Go give the same bytes.
func (w *Workspace) Build(ctx context.Context, t Target) error {
	if t.Package == "" || t.Output == "" {
		return errors.New("wasmbuild: Target.Package and Target.Output are required")
	}
	out, err := filepath.Abs(t.Output)
	if err != nil {
		return fmt.Errorf("wasmbuild: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("wasmbuild: %w", err)
	}
	if err := w.checkDefaultGODEBUG(ctx, t.Package); err != nil {
		return err
	}
	overlay := w.overlay
	if t.StockRuntime {
		overlay = w.stockOverlay
	}
	ldflags := strings.TrimSpace(GJSONLDFlags + " " + t.LDFlags)
	args := []string{"build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-overlay=" + overlay, "-ldflags=" + ldflags}
	args = append(args, pgoFlags(t.PGO)...)
	args = append(args, "-o", out, t.Package)
	if t.DispatchJumps {
		// The go command leaves an output whose build ID is current as it
		// is, and threading keeps the build ID: without this, a threaded
		// module would stay in place.
		if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("wasmbuild: %w", err)
		}
	}
	if err := w.run(ctx, args...); err != nil {
		return fmt.Errorf("wasmbuild: building %s: %w", t.Package, err)
	}
	if t.DispatchJumps {
		return nil
	}
	return threadJumps(out)
}

// DispatchedJumps returns how many forward jumps and how many function
// entries of module still go through Go's dispatch loop (see package
// internal/jumpthread): none in a module Build made, thousands in one
// built with DispatchJumps.
func DispatchedJumps(module []byte) (forward, entries int, err error) {
	_, stats, err := jumpthread.Thread(module)
	if err != nil {
		return 0, 0, fmt.Errorf("wasmbuild: %w", err)
	}
	return stats.Threaded, stats.Entries, nil
}

// threadJumps makes the forward jumps and the entries of the module at
// path direct (package jumpthread), in place. The go command leaves an
// up-to-date output as it is, so the module may already be threaded:
// Thread then finds nothing to rewrite and nothing is written.
func threadJumps(path string) error {
	module, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("wasmbuild: %w", err)
	}
	threaded, stats, err := jumpthread.Thread(module)
	if err != nil {
		// A Go release that emits an instruction Thread does not know
		// gets here: the module itself is fine without this step.
		return fmt.Errorf("wasmbuild: %s: %w (-dispatch-jumps builds without making jumps direct)", path, err)
	}
	if !stats.Rewrote() {
		return nil
	}
	// Through a file beside it and a rename, so that the path never holds
	// half a module.
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("wasmbuild: %w", err)
	}
	tmp := path + ".threading"
	if err := os.WriteFile(tmp, threaded, info.Mode().Perm()); err != nil {
		return fmt.Errorf("wasmbuild: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("wasmbuild: %w", err)
	}
	return nil
}

// checkDefaultGODEBUG refuses a main package whose default GODEBUG (from
// go.mod's go and godebug lines and its //go:debug lines) is not empty:
// the module's internal/godebug (internal/godebuglite) gives every setting
// the value it has when that default is empty, so it would ignore them.
func (w *Workspace) checkDefaultGODEBUG(ctx context.Context, pkg string) error {
	out, err := w.capture(ctx, "list", "-f", "{{.DefaultGODEBUG}}", pkg)
	if err != nil {
		return fmt.Errorf("wasmbuild: reading the default GODEBUG of %s: %w", pkg, err)
	}
	if d := strings.TrimSpace(string(out)); d != "" {
		return fmt.Errorf("wasmbuild: %s: default GODEBUG %q: the module's internal/godebug keeps every setting at Go's current default; "+
			"drop the //go:debug and go.mod godebug lines (or raise go.mod's go line) that set it", pkg, d)
	}
	return nil
}

// Vet runs go vet for GOOS=wasip1 GOARCH=wasm on the packages that go into
// the given main packages and belong to the project or the SDK, so the glue
// (inside the SDK copy) and wasip1-only code are vetted too. Findings in the
// project's files and in the glue fail; findings in the SDK's own files
// (which the project does not change) are ignored and only counted in the
// returned report.
func (w *Workspace) Vet(ctx context.Context, mainPackages ...string) (VetReport, error) {
	var report VetReport
	projectModule, err := w.projectModule()
	if err != nil {
		return report, err
	}
	// -pgo=off: with a main package's profile, go list names the packages
	// built for it "path [main]", which go vet does not take.
	listArgs := append([]string{"list", "-pgo=off", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}} {{.ImportPath}}"}, mainPackages...)
	listed, err := w.capture(ctx, listArgs...)
	if err != nil {
		return report, fmt.Errorf("wasmbuild: vet: %w", err)
	}
	var packages []string
	for _, line := range strings.Split(string(listed), "\n") {
		module, pkg, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && (module == projectModule || module == SDKModule) {
			packages = append(packages, pkg)
		}
	}
	if len(packages) == 0 {
		return report, fmt.Errorf("wasmbuild: vet: no project or SDK packages in %v", mainPackages)
	}
	report.Packages = packages
	out, err := w.capture(ctx, append([]string{"vet", "-json"}, packages...)...)
	if err != nil {
		return report, fmt.Errorf("wasmbuild: vet: %w", err)
	}
	findings, err := parseVetJSON(out)
	if err != nil {
		return report, fmt.Errorf("wasmbuild: vet: %w", err)
	}
	var own []string
	for _, f := range findings {
		if w.isOwnFile(f.File()) {
			own = append(own, f.String())
		} else {
			report.IgnoredSDKFindings++
		}
	}
	if len(own) > 0 {
		return report, fmt.Errorf("wasmbuild: go vet (wasip1/wasm) found %d problem(s):\n%s", len(own), strings.Join(own, "\n"))
	}
	return report, nil
}

// VetReport describes a successful Vet.
type VetReport struct {
	// Packages are the packages vetted.
	Packages []string
	// IgnoredSDKFindings counts findings in the SDK's own, unmodified
	// files (v0.24.0 has three "possible misuse of reflect.SliceHeader").
	IgnoredSDKFindings int
}

// isOwnFile reports whether a vetted file is the project's: a glue file, or
// a file under the project root that is not in the build workspace.
func (w *Workspace) isOwnFile(path string) bool {
	for _, g := range w.glueFiles {
		if path == g {
			return true
		}
	}
	return within(w.cfg.RepoRoot, path) && !within(w.cfg.WorkDir, path)
}

// within reports whether path lies in folder dir.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// projectModule reads the module path from the project's go.mod.
func (w *Workspace) projectModule() (string, error) {
	mod, err := os.ReadFile(filepath.Join(w.cfg.RepoRoot, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("wasmbuild: %w", err)
	}
	m := moduleDirective.FindSubmatch(mod)
	if m == nil {
		return "", fmt.Errorf("wasmbuild: %s has no module directive", filepath.Join(w.cfg.RepoRoot, "go.mod"))
	}
	return string(m[1]), nil
}

// moduleDirective matches the module line of a go.mod.
var moduleDirective = regexp.MustCompile(`(?m)^module\s+(\S+)\s*$`)

// run runs the go command in RepoRoot with Env.
func (w *Workspace) run(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, w.cfg.Go, args...)
	cmd.Dir = w.cfg.RepoRoot
	cmd.Env = w.Env()
	cmd.Stdout = w.cfg.Stderr
	cmd.Stderr = w.cfg.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", w.cfg.Go, strings.Join(args, " "), err)
	}
	return nil
}

// goEnvVars is the part of `go env -json` the build uses.
type goEnvVars struct {
	GOROOT    string
	GOVERSION string
}

func (w *Workspace) goEnv(ctx context.Context) (goEnvVars, error) {
	var v goEnvVars
	out, err := w.output(ctx, "env", "-json", "GOROOT", "GOVERSION")
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return v, fmt.Errorf("wasmbuild: reading go env: %w", err)
	}
	if v.GOROOT == "" || v.GOVERSION == "" {
		return v, fmt.Errorf("wasmbuild: go env reports no GOROOT or GOVERSION: %s", out)
	}
	return v, nil
}

// sdkDir finds the SDK version the project's go.mod requires, downloading it
// into the module cache when it is not there yet (a fresh machine starts with
// an empty cache, and nothing else in the build fetches a module whose files
// are copied rather than compiled), and checks it is the version the glue is
// written for.
func (w *Workspace) sdkDir(ctx context.Context) (string, error) {
	mod, err := w.moduleDir(ctx, SDKModule)
	if err != nil {
		return "", err
	}
	if mod.Version != SDKVersion {
		return "", fmt.Errorf("wasmbuild: go.mod requires %s %s but the glue in filter/wasmbuild/_glue is written for %s; "+
			"review the glue against the new SDK before changing SDKVersion", SDKModule, mod.Version, SDKVersion)
	}
	return mod.Dir, nil
}

// downloadedModule is the part of `go mod download -json` the build uses.
type downloadedModule struct{ Version, Dir, Error string }

// moduleDir finds the version of module the project's go.mod requires in
// the module cache, downloading it when it is not there yet (a fresh
// machine starts with an empty cache, and nothing else in the build fetches
// a module whose files are copied rather than compiled).
func (w *Workspace) moduleDir(ctx context.Context, module string) (downloadedModule, error) {
	var mod downloadedModule
	out, err := w.output(ctx, "mod", "download", "-json", module)
	if err != nil {
		return mod, err
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		return mod, fmt.Errorf("wasmbuild: reading `go mod download -json %s`: %w: %q", module, err, out)
	}
	if mod.Error != "" || mod.Dir == "" {
		return mod, fmt.Errorf("wasmbuild: downloading %s: %s", module, mod.Error)
	}
	return mod, nil
}

// capture runs a go command in RepoRoot with Env and returns its standard
// output; its standard error goes to cfg.Stderr.
func (w *Workspace) capture(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, w.cfg.Go, args...)
	cmd.Dir = w.cfg.RepoRoot
	cmd.Env = w.Env()
	cmd.Stderr = w.cfg.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", w.cfg.Go, strings.Join(args, " "), err)
	}
	return out, nil
}

// output runs a go command that inspects the project itself (not the
// workspace) and returns its standard output.
func (w *Workspace) output(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, w.cfg.Go, args...)
	cmd.Dir = w.cfg.RepoRoot
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("wasmbuild: %s %s: %w: %s", w.cfg.Go, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// goDirective matches the go line of a go.mod.
var goDirective = regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`)

// writeGoWork writes workDir/go.work naming the project, the SDK copy and
// the gjson copy. Its go line is the project's, which is at least the
// SDK's (go 1.19) and gjson's (go 1.12).
func writeGoWork(workDir, repoRoot, sdkCopy, gjsonCopy string) (string, error) {
	mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("reading the project's go.mod: %w", err)
	}
	m := goDirective.FindSubmatch(mod)
	if m == nil {
		return "", fmt.Errorf("%s has no go directive", filepath.Join(repoRoot, "go.mod"))
	}
	project, err := filepath.Rel(workDir, repoRoot)
	if err != nil {
		return "", err
	}
	sdk, err := filepath.Rel(workDir, sdkCopy)
	if err != nil {
		return "", err
	}
	gjson, err := filepath.Rel(workDir, gjsonCopy)
	if err != nil {
		return "", err
	}
	content := fmt.Sprintf("// Generated by filter/wasmbuild; do not edit.\n"+
		"// The project plus a copy of %s %s with the project's glue added\n"+
		"// and a copy of %s (patched through the overlay).\n\n"+
		"go %s\n\nuse (\n\t%s\n\t%s\n\t%s\n)\n",
		SDKModule, SDKVersion, GJSONModule, m[1], workRel(project), workRel(sdk), workRel(gjson))
	path := filepath.Join(workDir, "go.work")
	if err := writeIfChanged(path, []byte(content)); err != nil {
		return "", err
	}
	return path, nil
}

// workRel spells a relative path the way go.work expects ("./x", "..").
func workRel(rel string) string {
	rel = filepath.ToSlash(rel)
	if rel == "." || strings.HasPrefix(rel, "../") || rel == ".." {
		return rel
	}
	return "./" + rel
}

// writeOverlays writes the patched runtime and gjson files, the module's
// own standard library packages (StdPackages), and two -overlay JSON files
// that substitute them for the installed GOROOT's and the gjson copy's:
// overlay.json with every patch and overlay-stock-runtime.json with all
// but the runtime's. It returns the two JSON files' paths.
func writeOverlays(workDir, goroot, goVersion, gjsonCopy, gjsonVersion string) (overlay, stockOverlay string, err error) {
	// "_": the go command's ./... patterns skip the directory, so the
	// patched files are never built or vetted as packages of the module.
	dir := filepath.Join(workDir, "_overlay")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	runtimeFile := filepath.Join(goroot, "src", filepath.FromSlash(NetpollFile))
	runtimePatched, err := patchFile(runtimeFile, dir, func(src []byte) ([]byte, error) { return PatchNetpoll(src, goVersion) })
	if err != nil {
		return "", "", err
	}
	gjsonFile := filepath.Join(gjsonCopy, GJSONFile)
	gjsonPatched, err := patchFile(gjsonFile, dir, func(src []byte) ([]byte, error) { return PatchGJSON(src, gjsonVersion) })
	if err != nil {
		return "", "", err
	}
	stock := map[string]string{gjsonFile: gjsonPatched}
	for _, p := range StdPackages {
		files, err := p.replacements(goroot, dir)
		if err != nil {
			return "", "", err
		}
		for orig, replacement := range files {
			stock[orig] = replacement
		}
	}
	patched := map[string]string{runtimeFile: runtimePatched}
	for orig, replacement := range stock {
		patched[orig] = replacement
	}
	if overlay, err = writeOverlay(filepath.Join(workDir, "overlay.json"), patched); err != nil {
		return "", "", err
	}
	if stockOverlay, err = writeOverlay(filepath.Join(workDir, "overlay-stock-runtime.json"), stock); err != nil {
		return "", "", err
	}
	return overlay, stockOverlay, nil
}

// patchFile writes patch of the file orig into dir under orig's name and
// returns the patched file's path. An error of patch names orig.
func patchFile(orig, dir string, patch func([]byte) ([]byte, error)) (string, error) {
	src, err := os.ReadFile(orig)
	if err != nil {
		return "", err
	}
	patched, err := patch(src)
	if err != nil {
		return "", fmt.Errorf("%w\n(file: %s)", err, orig)
	}
	replacement := filepath.Join(dir, filepath.Base(orig))
	if err := writeIfChanged(replacement, patched); err != nil {
		return "", err
	}
	return replacement, nil
}

// writeOverlay writes the -overlay JSON file path replacing each key of
// replace by its value.
func writeOverlay(path string, replace map[string]string) (string, error) {
	overlay, err := json.MarshalIndent(struct{ Replace map[string]string }{Replace: replace}, "", "\t")
	if err != nil {
		return "", err
	}
	if err := writeIfChanged(path, append(overlay, '\n')); err != nil {
		return "", err
	}
	return path, nil
}

// writeIfChanged writes data to path unless it already holds exactly data.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return writeFileAtomic(path, data)
}
