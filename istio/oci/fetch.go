package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// This file pulls a module the way Istio's agent does for a WasmPlugin with
// an oci:// url, so that a test can show that what `make image` builds and
// `make push` publishes is what Envoy will load. The rules follow
// istio/istio pkg/wasm/cache.go (localFileCache.Get and getOrFetch) and
// pkg/wasm/imagefetcher.go (ImageFetcher.PrepareFetch and the three
// extract* functions); Istio itself is not imported because istio.io/istio
// is far too heavy to build in a test.

// Variant names the image shape a module was found in.
type Variant string

// The image shapes Istio's fetcher accepts, in the order it tries them.
const (
	VariantDocker   Variant = "docker"       // Docker manifest, last layer tar+gzip with plugin.wasm
	VariantCompat   Variant = "oci-compat"   // OCI manifest, last layer application/vnd.oci.image.layer.v1.tar+gzip with plugin.wasm
	VariantArtifact Variant = "oci-artifact" // OCI manifest, two layers, one application/vnd.module.wasm.content.layer.v1+wasm
)

// Fetched is the result of FetchAsIstio.
type Fetched struct {
	Module  []byte  // the module Envoy would load
	Digest  string  // hex sha256 of the image manifest, the checksum Istio verifies
	Variant Variant // the shape the module was found in
}

// ErrChecksumMismatch is returned when the pulled image's digest is not
// the WasmPlugin's sha256; Istio refuses the module in that case.
var ErrChecksumMismatch = errors.New("checksum mismatch")

// FetchAsIstio pulls the module for a WasmPlugin whose spec has the given
// url and sha256, applying Istio's checks: a url without a scheme means
// oci://; without sha256, a digest in the url (@sha256:...) is the
// expected checksum; the checksum is compared with the digest of the
// image manifest before the module is extracted; a registry that answers
// plain HTTP is retried insecurely; the module must start with the Wasm
// magic number. Only oci:// urls are handled: http(s):// and file:// are
// not images.
func FetchAsIstio(ctx context.Context, wasmPluginURL, sha256 string) (Fetched, error) {
	if !strings.Contains(wasmPluginURL, "://") {
		wasmPluginURL = "oci://" + wasmPluginURL
	}
	u, err := url.Parse(wasmPluginURL)
	if err != nil {
		return Fetched{}, fmt.Errorf("oci: fail to parse Wasm module fetch url %s: %w", wasmPluginURL, err)
	}
	if u.Scheme != "oci" {
		return Fetched{}, fmt.Errorf("oci: %s is not an oci:// url", wasmPluginURL)
	}
	checksum := sha256
	if checksum == "" {
		if d, err := name.NewDigest(u.Host + u.Path); err == nil {
			checksum = strings.TrimPrefix(d.DigestStr(), "sha256:")
		}
	}
	img, err := getImage(ctx, u.Host+u.Path)
	if err != nil {
		return Fetched{}, err
	}
	digest, err := Digest(img)
	if err != nil {
		return Fetched{}, err
	}
	if checksum != "" && checksum != digest {
		return Fetched{}, fmt.Errorf("oci: module downloaded from %s has checksum %s, which does not match: %s: %w",
			wasmPluginURL, digest, checksum, ErrChecksumMismatch)
	}
	module, variant, err := ExtractModule(img)
	if err != nil {
		return Fetched{}, fmt.Errorf("oci: %s: %w", wasmPluginURL, err)
	}
	if err := checkModule(module); err != nil {
		return Fetched{}, fmt.Errorf("oci: fetched Wasm binary from %s is invalid: %w", wasmPluginURL, err)
	}
	return Fetched{Module: module, Digest: digest, Variant: variant}, nil
}

// getImage resolves ref to an image, retrying over plain HTTP when the
// registry answered HTTPS with HTTP, as PrepareFetch does.
func getImage(ctx context.Context, ref string) (v1.Image, error) {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("oci: could not parse url in image reference %q: %w", ref, err)
	}
	desc, err := remote.Get(parsed, opts...)
	if err != nil && strings.Contains(err.Error(), "server gave HTTP response") {
		if parsed, err = name.ParseReference(ref, name.Insecure); err == nil {
			desc, err = remote.Get(parsed, opts...)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("oci: could not fetch manifest of %s: %w", ref, err)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("oci: could not fetch image %s: %w", ref, err)
	}
	return img, nil
}

// ExtractModule returns the module held by img and the shape it was found
// in, trying the shapes in Istio's order: a Docker manifest is read as the
// Docker compat variant only; an OCI manifest as the compat variant, then
// as the artifact variant.
func ExtractModule(img v1.Image) ([]byte, Variant, error) {
	manifest, err := img.Manifest()
	if err != nil {
		return nil, "", fmt.Errorf("could not retrieve manifest: %w", err)
	}
	if manifest.MediaType == types.DockerManifestSchema2 {
		module, err := extractFromLastLayer(img, types.DockerLayer)
		if err != nil {
			return nil, "", fmt.Errorf("could not extract Wasm file from the image as Docker container: %w", err)
		}
		return module, VariantDocker, nil
	}
	module, errCompat := extractFromLastLayer(img, types.OCILayer)
	if errCompat == nil {
		return module, VariantCompat, nil
	}
	module, errArtifact := extractArtifact(img)
	if errArtifact == nil {
		return module, VariantArtifact, nil
	}
	return nil, "", fmt.Errorf("the given image is in invalid format as an OCI image: could not parse as compat variant: %v; could not parse as oci variant: %v",
		errCompat, errArtifact)
}

// extractFromLastLayer reads plugin.wasm from the last layer, which must
// have media type want and be a tar+gzip archive.
func extractFromLastLayer(img v1.Image, want types.MediaType) ([]byte, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("could not fetch layers: %w", err)
	}
	if len(layers) == 0 {
		return nil, errors.New("number of layers must be greater than zero")
	}
	layer := layers[len(layers)-1]
	mt, err := layer.MediaType()
	if err != nil {
		return nil, fmt.Errorf("could not get media type: %w", err)
	}
	if mt != want {
		return nil, fmt.Errorf("invalid media type %s (expect %s)", mt, want)
	}
	r, err := layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("could not get layer content: %w", err)
	}
	defer r.Close()
	return moduleFromTarGzip(r)
}

// moduleFromTarGzip returns the first file whose base name is plugin.wasm.
func moduleFromTarGzip(r io.Reader) ([]byte, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("failed to parse layer as tar.gz: %w", err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s not found in the archive", ModuleFileName)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the layer archive: %w", err)
		}
		if path.Base(hdr.Name) != ModuleFileName {
			continue
		}
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, tr); err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", ModuleFileName, err)
		}
		return buf.Bytes(), nil
	}
}

// extractArtifact reads the raw module layer of the artifact variant,
// which must have exactly two layers.
func extractArtifact(img v1.Image) ([]byte, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("could not fetch layers: %w", err)
	}
	if len(layers) != 2 {
		return nil, fmt.Errorf("number of layers must be 2 but got %d", len(layers))
	}
	for _, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, fmt.Errorf("could not retrieve the media type: %w", err)
		}
		if mt != WasmContentLayerMediaType {
			continue
		}
		// The layer is the raw module, not compressed: read it as stored.
		r, err := l.Compressed()
		if err != nil {
			return nil, fmt.Errorf("could not get layer content: %w", err)
		}
		defer r.Close()
		module, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("could not extract wasm binary: %w", err)
		}
		return module, nil
	}
	return nil, fmt.Errorf("could not find the layer of type %s", WasmContentLayerMediaType)
}
