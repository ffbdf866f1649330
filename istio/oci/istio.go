package oci

import (
	"fmt"
	"regexp"
	"strings"
)

// Placeholders the committed istio/image.yaml carries until a user sets
// the image. The sha256 placeholder does not match the WasmPlugin CRD's
// pattern (^$|^[a-f0-9]{64}$), so the API server refuses the manifests
// instead of letting proxies try (and, failing closed, deny traffic) with
// an image that does not exist.
const (
	PlaceholderURL    = "oci://registry.invalid/mcp-ratelimit-wasm:unset"
	PlaceholderSHA256 = "set-by-make-push"
)

var hexSHA256 = regexp.MustCompile(`^[a-f0-9]{64}$`)

// IstioImagePatch returns the content of istio/image.yaml: a kustomize
// patch that sets spec.url and spec.sha256 of every WasmPlugin in the
// istio/ kustomization. `make push` writes it for the image it pushed.
func IstioImagePatch(url, sha256 string) ([]byte, error) {
	placeholder := url == PlaceholderURL && sha256 == PlaceholderSHA256
	if !placeholder {
		if !strings.HasPrefix(url, "oci://") {
			return nil, fmt.Errorf("oci: WasmPlugin url %q: want an oci:// url", url)
		}
		if !hexSHA256.MatchString(sha256) {
			return nil, fmt.Errorf("oci: WasmPlugin sha256 %q: want 64 lower-case hex digits (the image manifest digest)", sha256)
		}
	}
	var b strings.Builder
	b.WriteString(`# The image every WasmPlugin of this kustomization pulls (a kustomize patch
# applied to all WasmPlugins; the name below is ignored).
#
# url:    oci://<registry>/<repository>:<tag> of the image ` + "`make push`" + ` published.
# sha256: the digest of that image's manifest, without "sha256:". For oci://
#         urls Istio compares it with the manifest digest, not with the
#         sha256 of the .wasm file (istio/istio pkg/wasm/imagefetcher.go).
#
# ` + "`make push REGISTRY=<registry>/<repository>[:<tag>]`" + ` writes this file as
# build/istio-image.yaml; copy it here, then ` + "`kubectl apply -k istio/`" + `.
`)
	if placeholder {
		b.WriteString(`# Until then the sha256 below is a placeholder the API server refuses, so that
# nothing is applied with an image that does not exist.
`)
	}
	fmt.Fprintf(&b, `apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata:
  name: mcp-ratelimit
spec:
  url: %s
  sha256: %s
`, url, sha256)
	return []byte(b.String()), nil
}
