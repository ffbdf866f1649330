// Command wasmbuild builds the proxy-wasm module with the installed Go, the
// SDK glue, the runtime patch and the gjson patch, its forward jumps and
// function entries made direct (see package wasmbuild), or vets the
// wasip1 build. The Makefile's build, build-unpatched and lint targets run
// it; run it from the repository root.
//
//	wasmbuild [-work build] [-stock-runtime] [-dispatch-jumps] [-ldflags '...'] -o out.wasm PACKAGE
//	wasmbuild [-work build] -vet MAIN-PACKAGES...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/wasmbuild"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err) // errors of package wasmbuild say "wasmbuild: ..."
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("wasmbuild", flag.ContinueOnError)
	root := fs.String("root", ".", "the project's root folder (where go.mod is)")
	work := fs.String("work", "build", "the build workspace folder (SDK and gjson copies, go.work, overlay)")
	out := fs.String("o", "", "the .wasm file to write")
	stock := fs.Bool("stock-runtime", false, "build with the unpatched Go runtime (crashes on Envoy 1.33-1.38)")
	ldflags := fs.String("ldflags", "", "flags for the linker")
	dispatchJumps := fs.Bool("dispatch-jumps", false, "leave every jump going through Go's dispatch loop instead of making the forward ones and the functions' entries direct")
	pgo := fs.String("pgo", "auto", "the go command's -pgo: auto (the main package's default.pgo, if any), off, or a profile's path")
	vet := fs.Bool("vet", false, "instead of building, go vet (for wasip1/wasm) the project and SDK packages the given main packages use")
	if err := fs.Parse(args); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	ws, err := wasmbuild.Prepare(ctx, wasmbuild.Config{RepoRoot: *root, WorkDir: *work})
	if err != nil {
		return err
	}
	if *vet {
		if fs.NArg() == 0 {
			return errors.New("wasmbuild: -vet needs the main packages whose dependencies to vet")
		}
		report, err := ws.Vet(ctx, fs.Args()...)
		if err != nil {
			return err
		}
		fmt.Printf("go vet (wasip1/wasm): %d packages clean (%d findings in the SDK's own unmodified files ignored)\n",
			len(report.Packages), report.IgnoredSDKFindings)
		return nil
	}

	if fs.NArg() != 1 || *out == "" {
		return errors.New("wasmbuild: usage: wasmbuild [-work DIR] [-stock-runtime] [-dispatch-jumps] [-pgo auto|off|FILE] [-ldflags FLAGS] -o OUT.wasm PACKAGE")
	}
	if err := ws.Build(ctx, wasmbuild.Target{
		Package:       fs.Arg(0),
		Output:        *out,
		StockRuntime:  *stock,
		LDFlags:       *ldflags,
		DispatchJumps: *dispatchJumps,
		PGO:           *pgo,
	}); err != nil {
		return err
	}
	info, err := os.Stat(*out)
	if err != nil {
		return err
	}
	runtime := "Go runtime patched for Envoy 1.33-1.38"
	if *stock {
		runtime = "stock Go runtime"
	}
	fmt.Printf("%s: %d bytes (%.2f MiB), %s, %s\n", *out, info.Size(), float64(info.Size())/(1<<20), ws.GoVersion(), runtime)
	return nil
}
