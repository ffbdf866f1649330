// Command mcp-ratelimit-image packages build/mcp-ratelimit.wasm as an OCI
// image that Istio's WasmPlugin fetcher accepts, and pushes it.
//
//	mcp-ratelimit-image build -wasm build/mcp-ratelimit.wasm -out build/oci \
//	    -source https://github.com/org/repo -version v0.1.0 -revision <commit> [-created <RFC 3339>]
//	mcp-ratelimit-image push -layout build/oci -to registry.example.com/team/mcp-ratelimit[:tag] \
//	    [-patch build/istio-image.yaml]
//
// `make image` and `make push REGISTRY=...` run it. build writes an OCI
// image layout and prints the image digest (a WasmPlugin's sha256 for an
// oci:// url) and the module's sha256 (for an http(s):// url). push
// uploads the layout's image and writes the kustomize patch that points
// istio/ at it. See docs/istio.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/istio/oci"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mcp-ratelimit-image:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  mcp-ratelimit-image build -wasm FILE -out DIR -source URL -version V -revision R [-created RFC3339]
  mcp-ratelimit-image push -layout DIR -to REGISTRY/REPOSITORY[:TAG] [-patch FILE]`

// errUsage marks errors caused by the command line.
var errUsage = errors.New(usage)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "build":
		return runBuild(args[1:], stdout, stderr)
	case "push":
		return runPush(ctx, args[1:], stdout, stderr)
	default:
		return fmt.Errorf("unknown command %q\n%w", args[0], errUsage)
	}
}

func runBuild(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wasm := fs.String("wasm", "", "the module to package")
	out := fs.String("out", "", "the OCI image layout directory to write (replaced if it is one)")
	source := fs.String("source", "", "org.opencontainers.image.source: the repository URL")
	version := fs.String("version", "", "org.opencontainers.image.version, also the tag")
	revision := fs.String("revision", "", "org.opencontainers.image.revision: the commit")
	created := fs.String("created", "", "org.opencontainers.image.created, RFC 3339; empty: the Unix epoch (reproducible)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *wasm == "" || *out == "" {
		return fmt.Errorf("build: -wasm and -out are required\n%w", errUsage)
	}
	meta := oci.Metadata{Source: *source, Version: *version, Revision: *revision}
	if *created != "" {
		t, err := time.Parse(time.RFC3339, *created)
		if err != nil {
			return fmt.Errorf("build: -created %q: %w", *created, err)
		}
		meta.Created = t
	}
	module, err := os.ReadFile(*wasm)
	if err != nil {
		return fmt.Errorf("build: reading the module (run `make build` first): %w", err)
	}
	img, err := oci.NewImage(module, meta)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	tag, err := oci.TagFor(meta.Version)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if err := oci.WriteLayout(*out, img, tag); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	digest, err := oci.Digest(img)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (OCI image layout, tag %s, %d-byte module as /%s)\n", *out, tag, len(module), oci.ModuleFileName)
	fmt.Fprintf(stdout, "image digest:  sha256:%s\n", digest)
	fmt.Fprintf(stdout, "  WasmPlugin sha256 for an oci:// url: %s\n", digest)
	fmt.Fprintf(stdout, "module sha256: %s\n", oci.ModuleSHA256(module))
	fmt.Fprintf(stdout, "  sha256 for an http(s):// url serving the .wasm itself\n")
	return nil
}

func runPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	layoutDir := fs.String("layout", "", "the OCI image layout `make image` wrote")
	to := fs.String("to", "", "where to push: registry/repository[:tag]; without a tag, the layout's tag")
	patch := fs.String("patch", "", "write the istio/image.yaml patch for the pushed image to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *layoutDir == "" || *to == "" {
		return fmt.Errorf("push: -layout and -to are required (make push REGISTRY=host[:port]/repository[:tag])\n%w", errUsage)
	}
	img, tag, err := oci.ReadLayout(*layoutDir)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if tag == "" {
		return fmt.Errorf("push: the layout %s has no tag; rebuild it with `make image`", *layoutDir)
	}
	pushed, err := oci.Push(ctx, *to, tag, img)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	fmt.Fprintf(stdout, "pushed %s@sha256:%s\n", pushed.Tagged.Name(), pushed.Digest)
	fmt.Fprintf(stdout, "WasmPlugin url:    %s\n", pushed.WasmPluginURL())
	fmt.Fprintf(stdout, "WasmPlugin sha256: %s\n", pushed.Digest)
	if *patch == "" {
		return nil
	}
	content, err := oci.IstioImagePatch(pushed.WasmPluginURL(), pushed.Digest)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(*patch), 0o755); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if err := os.WriteFile(*patch, content, 0o644); err != nil {
		return fmt.Errorf("push: writing %s: %w", *patch, err)
	}
	fmt.Fprintf(stdout, "wrote %s: copy it to istio/image.yaml, then kubectl apply -k istio/\n", *patch)
	return nil
}
