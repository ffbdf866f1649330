// Package istio_test checks the manifests under istio/ against the Istio
// API as istio.io/api and istio.io/client-go define it, and against the
// CustomResourceDefinitions istio.io/api publishes (what the API server
// enforces), renders the Kustomize base as `kubectl apply -k` does, starts
// the filter with every pluginConfig, and pulls the published image the way
// Istio's agent does.
package istio_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	extensionsapi "istio.io/api/extensions/v1alpha1"
	securityapi "istio.io/api/security/v1beta1"
	typeapi "istio.io/api/type/v1beta1"
	clientextensions "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	clientsecurity "istio.io/client-go/pkg/apis/security/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	kustomizetypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/filtertest"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/istio/crdschema"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/istio/oci"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/istio/oci/ocitest"
)

// modeFiles are the deployment modes; each holds a RequestAuthentication
// and a WasmPlugin.
var modeFiles = []string{"sidecar.yaml", "gateway.yaml", "waypoint.yaml"}

// The placeholder violation: the only thing the API server refuses in the
// manifests until image.yaml names a published image.
const placeholderViolation = "spec.sha256: '" + oci.PlaceholderSHA256 + "' does not match pattern"

// A syntactically real image for the rendering tests (no registry needed).
var (
	exampleURL    = "oci://registry.example.com/team/mcp-ratelimit:v0.1.0"
	exampleSHA256 = strings.Repeat("0123456789abcdef", 4)
)

var (
	crdOnce sync.Once
	crds    *crdschema.Set
	crdErr  error
)

// istioCRDs loads the CRDs istio.io/api publishes, from the module the
// project builds against (kubernetes/customresourcedefinitions.gen.yaml).
func istioCRDs(t *testing.T) *crdschema.Set {
	t.Helper()
	crdOnce.Do(func() {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api").Output()
		if err != nil {
			crdErr = fmt.Errorf("locating the istio.io/api module (go list -m): %w", err)
			return
		}
		dir := strings.TrimSpace(string(out))
		if dir == "" {
			crdErr = fmt.Errorf("istio.io/api is not downloaded: run `go mod download`")
			return
		}
		data, err := os.ReadFile(filepath.Join(dir, "kubernetes", "customresourcedefinitions.gen.yaml"))
		if err != nil {
			crdErr = err
			return
		}
		crds, crdErr = crdschema.Load(data)
	})
	if crdErr != nil {
		t.Fatal(crdErr)
	}
	return crds
}

// manifest is one decoded document.
type manifest struct {
	source  string // file name, and document index
	json    []byte
	kind    string
	meta    metav1.ObjectMeta
	wasm    *extensionsapi.WasmPlugin
	reqAuth *securityapi.RequestAuthentication
}

// envelope is a Kubernetes object with its spec left raw, decoded with
// unknown fields refused.
type envelope struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        json.RawMessage `json:"metadata"`
	Spec            json.RawMessage `json:"spec"`
}

// decodeStrict decodes one YAML document as the Istio types would, but
// refusing anything they do not declare: the envelope and the metadata
// with encoding/json's DisallowUnknownFields, the spec with protojson
// (the client-go types' own JSON decoding of a spec ignores unknown
// fields). It also decodes the whole object into the client-go type.
func decodeStrict(source string, doc []byte) (*manifest, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: YAML: %w", source, err)
	}
	var env envelope
	if err := decodeJSONStrict(js, &env); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	m := &manifest{source: source, json: js, kind: env.Kind}
	if err := decodeJSONStrict(env.Metadata, &m.meta); err != nil {
		return nil, fmt.Errorf("%s: metadata: %w", source, err)
	}
	strict := protojson.UnmarshalOptions{DiscardUnknown: false}
	gv := env.GroupVersionKind().GroupVersion()
	switch {
	case env.Kind == "WasmPlugin" && gv == clientextensions.SchemeGroupVersion:
		m.wasm = &extensionsapi.WasmPlugin{}
		if err := strict.Unmarshal(env.Spec, m.wasm); err != nil {
			return nil, fmt.Errorf("%s: WasmPlugin spec: %w", source, err)
		}
		var typed clientextensions.WasmPlugin
		if err := json.Unmarshal(js, &typed); err != nil {
			return nil, fmt.Errorf("%s: client-go WasmPlugin: %w", source, err)
		}
		if !proto.Equal(&typed.Spec, m.wasm) {
			return nil, fmt.Errorf("%s: the client-go WasmPlugin reads a different spec", source)
		}
	case env.Kind == "RequestAuthentication" && gv == clientsecurity.SchemeGroupVersion:
		m.reqAuth = &securityapi.RequestAuthentication{}
		if err := strict.Unmarshal(env.Spec, m.reqAuth); err != nil {
			return nil, fmt.Errorf("%s: RequestAuthentication spec: %w", source, err)
		}
		var typed clientsecurity.RequestAuthentication
		if err := json.Unmarshal(js, &typed); err != nil {
			return nil, fmt.Errorf("%s: client-go RequestAuthentication: %w", source, err)
		}
		if !proto.Equal(&typed.Spec, m.reqAuth) {
			return nil, fmt.Errorf("%s: the client-go RequestAuthentication reads a different spec", source)
		}
	default:
		return nil, fmt.Errorf("%s: unexpected %s %s (only WasmPlugin %s and RequestAuthentication %s belong here)",
			source, env.APIVersion, env.Kind, clientextensions.SchemeGroupVersion, clientsecurity.SchemeGroupVersion)
	}
	return m, nil
}

func decodeJSONStrict(js []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// decodeAll decodes every document of a multi-document YAML stream.
func decodeAll(t *testing.T, source string, data []byte) []*manifest {
	t.Helper()
	docs, err := crdschema.SplitYAML(data)
	if err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	var out []*manifest
	for i, doc := range docs {
		m, err := decodeStrict(fmt.Sprintf("%s#%d", source, i), doc)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// pluginConfigJSON returns what Istio hands the filter: the pluginConfig
// Struct serialised as JSON in a StringValue (istio/istio
// pilot/pkg/model/wasm.go, convertToWasmPluginWrapper: protomarshal.ToJSON).
func pluginConfigJSON(t *testing.T, w *extensionsapi.WasmPlugin) []byte {
	t.Helper()
	js, err := protojson.Marshal(w.GetPluginConfig())
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestManifests decodes every mode file strictly, validates it against the
// CRDs, checks the choices docs/istio.md documents, and starts the filter
// with its pluginConfig.
func TestManifests(t *testing.T) {
	set := istioCRDs(t)
	for _, file := range modeFiles {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			manifests := decodeAll(t, file, data)
			var plugin, reqAuth *manifest
			for _, m := range manifests {
				violations, err := set.Validate(m.json)
				if err != nil {
					t.Fatal(err)
				}
				want := []string(nil)
				if m.wasm != nil {
					want = []string{placeholderViolation}
				}
				if !sameViolations(violations, want) {
					t.Errorf("%s %s: violations %q, want %q", m.source, m.kind, violations, want)
				}
				switch {
				case m.wasm != nil && plugin == nil:
					plugin = m
				case m.reqAuth != nil && reqAuth == nil:
					reqAuth = m
				default:
					t.Errorf("%s: more than one %s", m.source, m.kind)
				}
			}
			if plugin == nil || reqAuth == nil {
				t.Fatalf("%s: want one WasmPlugin and one RequestAuthentication", file)
			}
			checkWasmPlugin(t, plugin)
			checkIdentityPlumbing(t, plugin, reqAuth)
		})
	}
}

func sameViolations(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			return false
		}
	}
	return true
}

// checkWasmPlugin checks the settings every mode shares and starts the
// filter with the pluginConfig.
func checkWasmPlugin(t *testing.T, m *manifest) {
	t.Helper()
	w := m.wasm
	if w.GetPhase() != extensionsapi.PluginPhase_AUTHZ {
		t.Errorf("%s: phase %s, want AUTHZ", m.source, w.GetPhase())
	}
	if w.GetType() != extensionsapi.PluginType_HTTP {
		t.Errorf("%s: type %s, want HTTP", m.source, w.GetType())
	}
	if !bytes.Contains(m.json, []byte(`"failStrategy"`)) {
		t.Errorf("%s: failStrategy is not chosen explicitly", m.source)
	}
	if w.GetUrl() != oci.PlaceholderURL || w.GetSha256() != oci.PlaceholderSHA256 {
		t.Errorf("%s: url/sha256 %q/%q, want the placeholders image.yaml replaces", m.source, w.GetUrl(), w.GetSha256())
	}
	if w.GetPluginName() != "mcp-ratelimit" {
		t.Errorf("%s: pluginName %q, want mcp-ratelimit (the root id docs/metrics.md assumes)", m.source, w.GetPluginName())
	}
	if _, err := filtertest.Start(pluginConfigJSON(t, w), filtertest.Plugin{
		RootID: w.GetPluginName(), Name: m.meta.Namespace + "." + m.meta.Name,
	}); err != nil {
		t.Errorf("%s: the filter refuses the pluginConfig: %v", m.source, err)
	}
}

// checkIdentityPlumbing checks that the RequestAuthentication applies to
// the same proxies as the WasmPlugin and writes the header the plugin reads
// users from.
func checkIdentityPlumbing(t *testing.T, plugin, reqAuth *manifest) {
	t.Helper()
	cfg, err := config.Parse(pluginConfigJSON(t, plugin.wasm))
	if err != nil {
		t.Fatalf("%s: %v", plugin.source, err)
	}
	if cfg.UserIdentity == nil || cfg.UserIdentity.From != config.IdentityHeader {
		t.Fatalf("%s: userIdentity does not read a header", plugin.source)
	}
	if plugin.meta.Namespace == "" || plugin.meta.Namespace != reqAuth.meta.Namespace {
		t.Errorf("namespaces %q and %q: want the same, set explicitly", plugin.meta.Namespace, reqAuth.meta.Namespace)
	}
	if !proto.Equal(plugin.wasm.GetSelector(), reqAuth.reqAuth.GetSelector()) ||
		!slices.EqualFunc(plugin.wasm.GetTargetRefs(), reqAuth.reqAuth.GetTargetRefs(), func(a, b *typeapi.PolicyTargetReference) bool {
			return proto.Equal(a, b)
		}) {
		t.Errorf("%s: the RequestAuthentication and the WasmPlugin select different proxies", plugin.source)
	}
	written := false
	for _, rule := range reqAuth.reqAuth.GetJwtRules() {
		for _, c := range rule.GetOutputClaimToHeaders() {
			written = written || strings.EqualFold(c.GetHeader(), cfg.UserIdentity.Header)
		}
	}
	if !written {
		t.Errorf("%s: no outputClaimToHeaders writes %q, the header userIdentity reads", reqAuth.source, cfg.UserIdentity.Header)
	}
}

// TestDecodeStrictRefusesWhatIstioWouldIgnore shows the strict decoding
// and the CRD check catch mistakes the Istio types alone let through.
func TestDecodeStrictRefusesWhatIstioWouldIgnore(t *testing.T) {
	set := istioCRDs(t)
	good, err := os.ReadFile("sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) []byte {
		if !strings.Contains(string(good), old) {
			t.Fatalf("sidecar.yaml no longer contains %q; update this test", old)
		}
		return []byte(strings.Replace(string(good), old, new, 1))
	}
	tests := []struct {
		name, stage, want string
		data              []byte
	}{
		{"misspelt spec field", "decode", "failStrategi", replace("failStrategy: FAIL_RELOAD", "failStrategi: FAIL_RELOAD")},
		{"misspelt top-level field", "decode", "spce", replace("kind: WasmPlugin\nmetadata:\n  name: mcp-ratelimit\n  namespace: mcp                    # CHANGE: the MCP server's namespace\nspec:",
			"kind: WasmPlugin\nmetadata:\n  name: mcp-ratelimit\n  namespace: mcp\nspce: {}\nspec:")},
		{"misspelt metadata field", "decode", "namspace", replace("  name: mcp-server-jwt\n", "  name: mcp-server-jwt\n  namspace: x\n")},
		{"unknown phase", "decode", "AUTHORIZATION", replace("phase: AUTHZ", "phase: AUTHORIZATION")},
		{"snake_case field", "crd", "spec.plugin_name: field not declared", replace("pluginName: mcp-ratelimit", "plugin_name: mcp-ratelimit")},
		{"selector and targetRefs", "crd", "only one of targetRefs or selector", replace("  match:\n", "  targetRefs: [{kind: Gateway, name: g, group: gateway.networking.k8s.io}]\n  match:\n")},
		{"bad url scheme", "crd", "url must have schema", replace("url: oci://registry.invalid", "url: ftp://registry.invalid")},
		{"bad jwksUri scheme", "crd", "spec.jwtRules[0].jwksUri", replace("jwksUri: https://", "jwksUri: ftp://")},
		{"bad claim header", "crd", "spec.jwtRules[0].outputClaimToHeaders[0].header", replace("- header: x-user-id", "- header: x user id")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := crdschema.SplitYAML(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			var problems []string
			for i, doc := range docs {
				m, err := decodeStrict(fmt.Sprint(i), doc)
				if err != nil {
					problems = append(problems, "decode: "+err.Error())
					continue
				}
				violations, err := set.Validate(m.json)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range violations {
					if !strings.HasPrefix(v, placeholderViolation) {
						problems = append(problems, "crd: "+v)
					}
				}
			}
			all := strings.Join(problems, "\n")
			if !strings.Contains(all, tt.stage+": ") || !strings.Contains(all, tt.want) {
				t.Fatalf("problems:\n%s\nwant a %s problem naming %q", all, tt.stage, tt.want)
			}
		})
	}
}

// kustomizeBuild renders the kustomization in istio/ as `kubectl apply -k`
// (kustomize) does, on an in-memory copy of the folder in which overrides
// replace files.
func kustomizeBuild(t *testing.T, overrides map[string][]byte) []byte {
	t.Helper()
	fs := filesys.MakeFsInMemory()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".yaml" {
			continue
		}
		data, err := os.ReadFile(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if err := fs.WriteFile("/istio/"+e.Name(), data); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range overrides {
		if err := fs.WriteFile("/istio/"+name, data); err != nil {
			t.Fatal(err)
		}
	}
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, "/istio")
	if err != nil {
		t.Fatalf("kustomize build istio/: %v", err)
	}
	out, err := resources.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kustomizationWith returns kustomization.yaml with the sidecar mode
// replaced by another mode file, as the comment in it tells users to do.
func kustomizationWith(t *testing.T, mode string) []byte {
	t.Helper()
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("\n- sidecar.yaml\n")) {
		t.Fatal("kustomization.yaml no longer lists sidecar.yaml as its mode; update this test")
	}
	return bytes.Replace(data, []byte("\n- sidecar.yaml\n"), []byte("\n- "+mode+"\n"), 1)
}

func TestKustomizationIsStrict(t *testing.T) {
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		t.Fatal(err)
	}
	var k kustomizetypes.Kustomization
	if err := decodeJSONStrict(js, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.Kind != kustomizetypes.KustomizationKind || k.APIVersion != kustomizetypes.KustomizationVersion {
		t.Errorf("kustomization.yaml is %s %s", k.APIVersion, k.Kind)
	}
	if len(k.Resources) != 1 || !slices.Contains(modeFiles, k.Resources[0]) {
		t.Errorf("resources %v: want exactly one of the mode files %v", k.Resources, modeFiles)
	}
}

// TestImagePatchIsWhatMakePushWrites pins image.yaml to the generator, so
// that build/istio-image.yaml from `make push` replaces it as is.
func TestImagePatchIsWhatMakePushWrites(t *testing.T) {
	got, err := os.ReadFile("image.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := oci.IstioImagePatch(oci.PlaceholderURL, oci.PlaceholderSHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("image.yaml differs from oci.IstioImagePatch(placeholders):\n%s\nwant:\n%s", got, want)
	}
}

// TestKustomizeBuild renders the base for every mode, with the committed
// placeholder image and with a real one, and validates what comes out.
func TestKustomizeBuild(t *testing.T) {
	set := istioCRDs(t)
	realPatch, err := oci.IstioImagePatch(exampleURL, exampleSHA256)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range modeFiles {
		for _, image := range []string{"placeholder", "published"} {
			t.Run(mode+"/"+image, func(t *testing.T) {
				overrides := map[string][]byte{"kustomization.yaml": kustomizationWith(t, mode)}
				wantURL, wantSHA, wantViolation := oci.PlaceholderURL, oci.PlaceholderSHA256, []string{placeholderViolation}
				if image == "published" {
					overrides["image.yaml"] = realPatch
					wantURL, wantSHA, wantViolation = exampleURL, exampleSHA256, nil
				}
				rendered := decodeAll(t, "kustomize build", kustomizeBuild(t, overrides))
				kinds := map[string]int{}
				for _, m := range rendered {
					kinds[m.kind]++
					violations, err := set.Validate(m.json)
					if err != nil {
						t.Fatal(err)
					}
					want := []string(nil)
					if m.wasm != nil {
						want = wantViolation
						if m.wasm.GetUrl() != wantURL || m.wasm.GetSha256() != wantSHA {
							t.Errorf("WasmPlugin %s: url/sha256 %s/%s, want %s/%s", m.meta.Name, m.wasm.GetUrl(), m.wasm.GetSha256(), wantURL, wantSHA)
						}
						if m.wasm.GetPluginConfig() == nil || m.wasm.GetPhase() != extensionsapi.PluginPhase_AUTHZ {
							t.Errorf("WasmPlugin %s: the patch lost other fields", m.meta.Name)
						}
					}
					if !sameViolations(violations, want) {
						t.Errorf("%s %s: violations %q, want %q", m.kind, m.meta.Name, violations, want)
					}
				}
				if kinds["WasmPlugin"] != 1 || kinds["RequestAuthentication"] != 1 || len(rendered) != 2 {
					t.Errorf("rendered %v, want one WasmPlugin and one RequestAuthentication", kinds)
				}
			})
		}
	}
}

// TestPublishedImageMatchesTheManifests is the whole path of an Istio
// deployment short of a cluster: the image of build/mcp-ratelimit.wasm is
// pushed to a real registry as `make push` does, the patch it writes goes
// into istio/, kustomize renders the manifests, and each WasmPlugin's url
// and sha256 are pulled and verified as Istio's agent does. The module that
// comes back must be build/mcp-ratelimit.wasm byte for byte.
func TestPublishedImageMatchesTheManifests(t *testing.T) {
	module, err := os.ReadFile(filepath.Join("..", "build", "mcp-ratelimit.wasm"))
	if err != nil {
		t.Fatalf("reading the built module: %v (run `make build` first)", err)
	}
	registry := ocitest.StartRegistry(t)
	img, err := oci.NewImage(module, oci.Metadata{Source: "https://example.com/repo", Version: "v0.0.0-test", Revision: "test"})
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := oci.Push(t.Context(), registry+"/mcp/mcp-ratelimit", "v0.0.0-test", img)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := oci.IstioImagePatch(pushed.WasmPluginURL(), pushed.Digest)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range modeFiles {
		t.Run(mode, func(t *testing.T) {
			rendered := decodeAll(t, "kustomize build", kustomizeBuild(t, map[string][]byte{
				"kustomization.yaml": kustomizationWith(t, mode),
				"image.yaml":         patch,
			}))
			for _, m := range rendered {
				if m.wasm == nil {
					continue
				}
				fetched, err := oci.FetchAsIstio(t.Context(), m.wasm.GetUrl(), m.wasm.GetSha256())
				if err != nil {
					t.Fatalf("Istio would not load %s: %v", m.wasm.GetUrl(), err)
				}
				if !bytes.Equal(fetched.Module, module) {
					t.Errorf("the module Istio would load (sha256 %s) is not build/mcp-ratelimit.wasm (sha256 %s)",
						oci.ModuleSHA256(fetched.Module), oci.ModuleSHA256(module))
				}
			}
		})
	}
}

// TestImagePatchIgnoresNames shows that image.yaml reaches a WasmPlugin
// whatever its name, as image.yaml says: users rename the WasmPlugins.
func TestImagePatchIgnoresNames(t *testing.T) {
	sidecar, err := os.ReadFile("sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const name = "  name: mcp-ratelimit\n"
	if !bytes.Contains(sidecar, []byte(name)) {
		t.Fatal("sidecar.yaml no longer names its WasmPlugin mcp-ratelimit; update this test")
	}
	renamed := bytes.Replace(sidecar, []byte(name), []byte("  name: team-a-limits\n"), 1)
	patch, err := oci.IstioImagePatch(exampleURL, exampleSHA256)
	if err != nil {
		t.Fatal(err)
	}
	rendered := decodeAll(t, "kustomize build", kustomizeBuild(t, map[string][]byte{"sidecar.yaml": renamed, "image.yaml": patch}))
	for _, m := range rendered {
		if m.wasm == nil {
			continue
		}
		if m.meta.Name != "team-a-limits" || m.wasm.GetUrl() != exampleURL || m.wasm.GetSha256() != exampleSHA256 {
			t.Errorf("WasmPlugin %s: url/sha256 %s/%s, want %s/%s", m.meta.Name, m.wasm.GetUrl(), m.wasm.GetSha256(), exampleURL, exampleSHA256)
		}
	}
}
