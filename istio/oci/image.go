// Package oci packages the filter module as an OCI image that Istio's Wasm
// fetcher accepts, writes it to and reads it from an OCI image layout,
// pushes it to a registry, and fetches it back following the same rules
// Istio's fetcher follows.
//
// Image format. Istio's fetcher (istio/istio pkg/wasm/imagefetcher.go,
// PrepareFetch) accepts three shapes: a Docker image whose last layer is a
// tar+gzip holding plugin.wasm, an OCI image whose last layer is an
// application/vnd.oci.image.layer.v1.tar+gzip holding plugin.wasm (the
// "compat" variant of the solo-io Wasm image spec), and an OCI artifact with
// exactly two layers, one of media type
// application/vnd.module.wasm.content.layer.v1+wasm holding the raw module.
// NewImage builds the OCI compat variant: it is the shape Istio tries first
// for OCI manifests, the one Istio's own documentation builds (a
// "FROM scratch" image with plugin.wasm), and an ordinary OCI image that
// every registry, mirror and scanner handles; the artifact variant needs
// custom media types some registries refuse and a second layer whose
// content Istio ignores.
//
// Checksums. For an oci:// url, Istio compares the WasmPlugin's sha256
// with the digest of the image manifest, not with the sha256 of the module
// (pkg/wasm/cache.go: the checksum it checks is the "actualDigest" that
// PrepareFetch returns, img.Digest()). For http(s):// urls it is the sha256
// of the module. Both are reported by this package: Digest for the image,
// ModuleSHA256 for the module.
package oci

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ModuleFileName is the name the module has inside the image layer; Istio's
// fetcher looks for a file of this base name (extractWasmPluginBinary).
const ModuleFileName = "plugin.wasm"

// WasmContentLayerMediaType is the layer media type of the OCI artifact
// variant: the layer is the raw module.
const WasmContentLayerMediaType types.MediaType = "application/vnd.module.wasm.content.layer.v1+wasm"

// Standard OCI annotation keys (opencontainers/image-spec annotations.md)
// the image carries in its manifest.
const (
	AnnotationSource   = "org.opencontainers.image.source"
	AnnotationVersion  = "org.opencontainers.image.version"
	AnnotationRevision = "org.opencontainers.image.revision"
	AnnotationCreated  = "org.opencontainers.image.created"
	AnnotationTitle    = "org.opencontainers.image.title"
	AnnotationDesc     = "org.opencontainers.image.description"
	// AnnotationRefName names the tag of an image in an OCI layout's index.
	AnnotationRefName = "org.opencontainers.image.ref.name"
)

// Metadata describes the image: it becomes the manifest's standard OCI
// annotations. Source, Version and Revision are required so that a pulled
// image can always be traced back to the code it was built from.
type Metadata struct {
	Source   string    // the repository URL, e.g. https://github.com/org/repo
	Version  string    // e.g. v0.1.0 or the output of git describe
	Revision string    // the VCS revision (commit) the module was built from
	Created  time.Time // zero: the Unix epoch, so that builds are reproducible
}

// Title and description annotations of every image.
const (
	imageTitle       = "mcp-ratelimit-wasm"
	imageDescription = "proxy-wasm filter that rate-limits MCP tools/call requests (Envoy >= 1.33, Istio WasmPlugin)"
)

var wasmMagic = []byte{0x00, 0x61, 0x73, 0x6d}

// NewImage returns the OCI compat-variant image holding module as
// /plugin.wasm in a single tar+gzip layer, with meta as manifest
// annotations. The image is reproducible: the same module and metadata
// always give the same digest.
func NewImage(module []byte, meta Metadata) (v1.Image, error) {
	if err := checkModule(module); err != nil {
		return nil, err
	}
	if err := meta.validate(); err != nil {
		return nil, err
	}
	created := meta.Created.UTC()
	if meta.Created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	archive, err := moduleTar(module, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(archive)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("oci: building the layer: %w", err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, fmt.Errorf("oci: adding the layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("oci: reading the config: %w", err)
	}
	cfg = cfg.DeepCopy()
	// The module is built with GOOS=wasip1 GOARCH=wasm; say so, as
	// Docker's Wasm images do, so that no tool mistakes it for a container.
	cfg.OS = "wasip1"
	cfg.Architecture = "wasm"
	cfg.Created = v1.Time{Time: created}
	cfg.Config.Labels = map[string]string{
		AnnotationSource:   meta.Source,
		AnnotationVersion:  meta.Version,
		AnnotationRevision: meta.Revision,
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("oci: writing the config: %w", err)
	}
	annotated, ok := mutate.Annotations(img, map[string]string{
		AnnotationSource:   meta.Source,
		AnnotationVersion:  meta.Version,
		AnnotationRevision: meta.Revision,
		AnnotationCreated:  created.Format(time.RFC3339),
		AnnotationTitle:    imageTitle,
		AnnotationDesc:     imageDescription,
	}).(v1.Image)
	if !ok {
		return nil, errors.New("oci: annotating the manifest did not return an image")
	}
	return annotated, nil
}

// moduleTar returns an uncompressed tar archive holding module as
// ModuleFileName, with fixed owner, mode and time.
func moduleTar(module []byte, modTime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     ModuleFileName,
		Mode:     0o444,
		Size:     int64(len(module)),
		ModTime:  modTime,
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("oci: writing the tar header: %w", err)
	}
	if _, err := tw.Write(module); err != nil {
		return nil, fmt.Errorf("oci: writing the module into the tar: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("oci: closing the tar: %w", err)
	}
	return buf.Bytes(), nil
}

// checkModule refuses what is not a WebAssembly binary module: Istio's
// cache refuses it too (isValidWasmBinary), but only after the pull.
func checkModule(module []byte) error {
	if len(module) < 8 || !bytes.Equal(module[:4], wasmMagic) {
		return fmt.Errorf("oci: the module is not a WebAssembly binary (%d bytes, want the magic \\0asm and a version)", len(module))
	}
	return nil
}

func (m Metadata) validate() error {
	for _, f := range []struct{ name, value string }{
		{"source", m.Source}, {"version", m.Version}, {"revision", m.Revision},
	} {
		if f.value == "" {
			return fmt.Errorf("oci: image metadata: %s is empty (it becomes the %s annotation)", f.name, "org.opencontainers.image."+f.name)
		}
	}
	return nil
}

// ModuleSHA256 returns the hex sha256 of module: what a WasmPlugin's
// sha256 must be for an http(s):// url, and what Envoy's remote
// AsyncDataSource checks.
func ModuleSHA256(module []byte) string {
	sum := sha256.Sum256(module)
	return hex.EncodeToString(sum[:])
}

// Digest returns the hex sha256 digest of img's manifest (without the
// "sha256:" prefix): what a WasmPlugin's sha256 must be for an oci:// url.
func Digest(img v1.Image) (string, error) {
	d, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("oci: computing the manifest digest: %w", err)
	}
	return d.Hex, nil
}

var invalidTagChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// TagFor turns a version such as the output of `git describe` into a valid
// image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, distribution spec).
func TagFor(version string) (string, error) {
	tag := invalidTagChars.ReplaceAllString(version, "-")
	for len(tag) > 0 && (tag[0] == '.' || tag[0] == '-') {
		tag = tag[1:]
	}
	if len(tag) > 128 {
		tag = tag[:128]
	}
	if tag == "" {
		return "", fmt.Errorf("oci: version %q gives no valid image tag", version)
	}
	return tag, nil
}
