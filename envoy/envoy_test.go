// Package envoy_test checks every Envoy bootstrap under envoy/ against the
// Envoy API as github.com/envoyproxy/go-control-plane generates it, and
// starts the filter with the plugin configuration each file carries.
//
// Nothing here runs Envoy (none is available to the tests), so the checks
// are what Envoy itself does on load that can be done without it: strict
// parsing (an unknown field is an error, as in Envoy's YAML loader), type
// resolution of every typed_config, the protoc-gen-validate rules Envoy
// enforces (ValidateAll, applied inside every typed_config too, as Envoy
// validates each extension's config when it creates it), and
// proxy_on_configure of the plugin with its configuration.
package envoy_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/envoyconfig"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/filtertest"
)

// ownFiles are the deployment examples this folder ships; they get the
// stricter production checks below. Every *.yaml gets the API and plugin
// checks.
var ownFiles = []string{"envoy.yaml", "envoy-jwt.yaml"}

// moduleInstallPath is where the shipped bootstraps load the module from.
const moduleInstallPath = "/etc/envoy/mcp-ratelimit.wasm"

// yamlFiles lists every *.yaml and *.yml under this folder.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, own := range ownFiles {
		if !slices.Contains(files, own) {
			t.Errorf("%s is missing", own)
		}
	}
	return files
}

// httpFilterChain is one HTTP connection manager with its listener.
type httpFilterChain struct {
	listener *listenerv3.Listener
	hcm      *hcmv3.HttpConnectionManager
}

func httpFilterChains(t *testing.T, b *bootstrapv3.Bootstrap) []httpFilterChain {
	t.Helper()
	var out []httpFilterChain
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if f.GetTypedConfig().MessageIs(&hcm) {
					if err := f.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
						t.Fatalf("listener %s: %v", l.GetName(), err)
					}
					out = append(out, httpFilterChain{listener: l, hcm: &hcm})
				}
			}
		}
	}
	return out
}

// wasmFilter is one envoy.filters.http.wasm of a filter chain.
type wasmFilter struct {
	index  int // position in http_filters
	config *wasmv3.PluginConfig
}

func wasmFilters(t *testing.T, hcm *hcmv3.HttpConnectionManager) []wasmFilter {
	t.Helper()
	var out []wasmFilter
	for i, f := range hcm.GetHttpFilters() {
		var w wasmfilterv3.Wasm
		if f.GetTypedConfig().MessageIs(&w) {
			if err := f.GetTypedConfig().UnmarshalTo(&w); err != nil {
				t.Fatalf("http_filters[%d]: %v", i, err)
			}
			out = append(out, wasmFilter{index: i, config: w.GetConfig()})
		}
	}
	return out
}

// pluginConfiguration returns the bytes Envoy hands the plugin, by the rule
// the local host also follows (envoyconfig.Configuration).
func pluginConfiguration(c *wasmv3.PluginConfig) ([]byte, error) {
	return envoyconfig.Configuration(c.GetConfiguration())
}

// TestEveryBootstrapIsValidEnvoyConfig parses every YAML file under envoy/
// strictly, resolves and validates every typed_config, and starts the
// filter with the configuration of each of its Wasm filters.
func TestEveryBootstrapIsValidEnvoyConfig(t *testing.T) {
	for _, file := range yamlFiles(t) {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			b, err := envoyconfig.Decode(data)
			if err != nil {
				t.Fatalf("%s is not a valid Envoy bootstrap: %v", file, err)
			}
			if err := envoyconfig.Validate(b); err != nil {
				t.Errorf("%s: %v", file, err)
			}
			chains := httpFilterChains(t, b)
			if len(chains) == 0 {
				t.Fatalf("%s has no HTTP connection manager", file)
			}
			started := 0
			for _, chain := range chains {
				filters := chain.hcm.GetHttpFilters()
				if n := len(filters); n == 0 || filters[n-1].GetName() != "envoy.filters.http.router" {
					t.Errorf("listener %s: the router must be the last HTTP filter", chain.listener.GetName())
				}
				for _, w := range wasmFilters(t, chain.hcm) {
					checkWasmFilter(t, w.config)
					cfg, err := pluginConfiguration(w.config)
					if err != nil {
						t.Fatalf("listener %s: %v", chain.listener.GetName(), err)
					}
					_, err = filtertest.Start(cfg, filtertest.Plugin{RootID: w.config.GetRootId(), Name: w.config.GetName()})
					if err != nil {
						t.Errorf("listener %s, plugin %s: the filter refuses the configuration: %v",
							chain.listener.GetName(), w.config.GetName(), err)
					}
					started++
				}
			}
			if started == 0 {
				t.Errorf("%s configures no envoy.filters.http.wasm filter", file)
			}
		})
	}
}

// checkWasmFilter checks the VM settings every file must get right for
// this module.
func checkWasmFilter(t *testing.T, c *wasmv3.PluginConfig) {
	t.Helper()
	vm := c.GetVmConfig()
	if vm == nil {
		t.Fatalf("plugin %s: no vm_config", c.GetName())
	}
	if vm.GetRuntime() != "envoy.wasm.runtime.v8" {
		t.Errorf("plugin %s: runtime %q, want envoy.wasm.runtime.v8", c.GetName(), vm.GetRuntime())
	}
	if vm.GetVmId() == "" {
		t.Errorf("plugin %s: vm_id is empty; the buckets would share a key space with every other Wasm filter", c.GetName())
	}
	if vm.GetCode().GetLocal().GetFilename() == "" {
		t.Errorf("plugin %s: the module does not come from a local file", c.GetName())
	}
	if c.GetRootId() == "" {
		t.Errorf("plugin %s: root_id is empty; it namespaces the filter's state and stats", c.GetName())
	}
}

// TestShippedBootstrapsFollowTheGuide checks the production choices the
// guide (docs/envoy.md) relies on in the files this folder ships.
func TestShippedBootstrapsFollowTheGuide(t *testing.T) {
	for _, file := range ownFiles {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			b, err := envoyconfig.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, chain := range httpFilterChains(t, b) {
				hcm := chain.hcm
				if !hcm.GetNormalizePath().GetValue() || !hcm.GetMergeSlashes() ||
					hcm.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT {
					t.Errorf("listener %s: want normalize_path, merge_slashes and UNESCAPE_AND_REDIRECT", chain.listener.GetName())
				}
				for _, w := range wasmFilters(t, hcm) {
					if got := w.config.GetVmConfig().GetCode().GetLocal().GetFilename(); got != moduleInstallPath {
						t.Errorf("module path %q, want %s", got, moduleInstallPath)
					}
					if got := w.config.GetFailurePolicy(); got != wasmv3.FailurePolicy_FAIL_RELOAD {
						t.Errorf("failure_policy %s, want FAIL_RELOAD (docs/envoy.md explains why)", got)
					}
					raw, err := pluginConfiguration(w.config)
					if err != nil {
						t.Fatal(err)
					}
					cfg, err := config.Parse(raw)
					if err != nil {
						t.Fatalf("config.Parse: %v", err)
					}
					limit := chain.listener.GetPerConnectionBufferLimitBytes().GetValue()
					if limit == 0 {
						limit = 1 << 20 // Envoy's default
					}
					if int64(limit) <= int64(cfg.MaxRequestBodyBytes) {
						t.Errorf("per_connection_buffer_limit_bytes %d <= maxRequestBodyBytes %d: Envoy would answer oversized bodies with its own 413 before the filter",
							limit, cfg.MaxRequestBodyBytes)
					}
					if cfg.UserIdentity != nil && cfg.UserIdentity.From == config.IdentityHeader {
						for _, p := range identityHeaderProblems(t, hcm, w.index, cfg) {
							t.Error(p)
						}
					}
				}
			}
		})
	}
}

// identityHeaderProblems checks that the header the filter reads the user
// from is removed from the client's request and then set from a verified
// token, both before the filter, and that a token is required on the paths
// the filter limits. It returns what is wrong.
func identityHeaderProblems(t *testing.T, hcm *hcmv3.HttpConnectionManager, wasmIndex int, cfg *config.Config) []string {
	t.Helper()
	header := cfg.UserIdentity.Header
	removedAt, jwtAt := -1, -1
	var jwt jwtauthnv3.JwtAuthentication
	for i, f := range hcm.GetHttpFilters() {
		var hm headermutationv3.HeaderMutation
		switch {
		case f.GetTypedConfig().MessageIs(&hm):
			if err := f.GetTypedConfig().UnmarshalTo(&hm); err != nil {
				t.Fatal(err)
			}
			for _, m := range hm.GetMutations().GetRequestMutations() {
				if strings.EqualFold(m.GetRemove(), header) && removedAt < 0 {
					removedAt = i
				}
			}
		case f.GetTypedConfig().MessageIs(&jwt):
			if err := f.GetTypedConfig().UnmarshalTo(&jwt); err != nil {
				t.Fatal(err)
			}
			jwtAt = i
		}
	}
	if jwtAt < 0 || jwtAt > wasmIndex {
		return []string{fmt.Sprintf("userIdentity reads %q but no jwt_authn filter runs before the rate limiter", header)}
	}
	var problems []string
	if removedAt < 0 || removedAt > jwtAt {
		problems = append(problems, fmt.Sprintf("no header_mutation removes a client-sent %q before jwt_authn", header))
	}
	setBy := 0
	for name, p := range jwt.GetProviders() {
		for _, c := range p.GetClaimToHeaders() {
			if strings.EqualFold(c.GetHeaderName(), header) {
				setBy++
				if c.GetClaimName() == "" {
					problems = append(problems, fmt.Sprintf("provider %s: claim_to_headers for %s names no claim", name, header))
				}
			}
		}
	}
	if setBy == 0 {
		problems = append(problems, fmt.Sprintf("no jwt_authn provider copies a claim into %q", header))
	}
	for _, path := range cfg.Paths {
		covered := false
		for _, r := range jwt.GetRules() {
			if strings.HasPrefix(path, r.GetMatch().GetPrefix()) && requiresToken(r.GetRequires()) {
				covered = true
			}
		}
		if !covered {
			problems = append(problems, fmt.Sprintf("path %s: no jwt_authn rule requires a token there", path))
		}
	}
	return problems
}

// requiresToken reports whether a jwt_authn requirement lets no request
// through without a verified token.
func requiresToken(req *jwtauthnv3.JwtRequirement) bool {
	switch {
	case req == nil:
		return false
	case req.GetProviderName() != "" || req.GetProviderAndAudiences() != nil:
		return true
	case req.GetRequiresAny() != nil:
		for _, r := range req.GetRequiresAny().GetRequirements() {
			if !requiresToken(r) {
				return false
			}
		}
		return len(req.GetRequiresAny().GetRequirements()) > 0
	case req.GetRequiresAll() != nil:
		for _, r := range req.GetRequiresAll().GetRequirements() {
			if requiresToken(r) {
				return true
			}
		}
		return false
	default: // allow_missing, allow_missing_or_failed
		return false
	}
}

// jwtFileProblems runs identityHeaderProblems on every rate limiter of a
// bootstrap that reads the user from a header.
func jwtFileProblems(t *testing.T, b *bootstrapv3.Bootstrap) []string {
	t.Helper()
	var problems []string
	for _, chain := range httpFilterChains(t, b) {
		for _, w := range wasmFilters(t, chain.hcm) {
			raw, err := pluginConfiguration(w.config)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(raw)
			if err != nil {
				t.Fatalf("config.Parse: %v", err)
			}
			if cfg.UserIdentity != nil && cfg.UserIdentity.From == config.IdentityHeader {
				problems = append(problems, identityHeaderProblems(t, chain.hcm, w.index, cfg)...)
			}
		}
	}
	return problems
}

// TestIdentityHeaderChecksCatchBrokenChains feeds broken variants of
// envoy-jwt.yaml to the identity-header checks.
func TestIdentityHeaderChecksCatchBrokenChains(t *testing.T) {
	good, err := os.ReadFile("envoy-jwt.yaml")
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) []byte {
		if !strings.Contains(string(good), old) {
			t.Fatalf("envoy-jwt.yaml no longer contains %q; update this test", old)
		}
		return []byte(strings.Replace(string(good), old, new, 1))
	}
	tests := []struct {
		name, want string
		data       []byte
	}{
		{"as shipped", "", good},
		{"client header not removed", "no header_mutation removes", replace("- remove: x-user-id", "- remove: x-forwarded-user")},
		{"claim copied into another header", "no jwt_authn provider copies", replace("- header_name: x-user-id", "- header_name: x-subject")},
		{"token optional", "no jwt_authn rule requires", replace("requires: { provider_name: demo_idp }",
			"requires: { requires_any: { requirements: [ { provider_name: demo_idp }, { allow_missing: {} } ] } }")},
		{"rule on another path", "no jwt_authn rule requires", replace("- match: { prefix: /mcp }", "- match: { prefix: /admin }")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := envoyconfig.Decode(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			problems := strings.Join(jwtFileProblems(t, b), "; ")
			if tt.want == "" && problems != "" {
				t.Fatalf("problems in the shipped file: %s", problems)
			}
			if !strings.Contains(problems, tt.want) {
				t.Fatalf("problems %q, want one containing %q", problems, tt.want)
			}
		})
	}
}

// TestDemoTokensVerifyAgainstTheDemoJWKS checks that the tokens in
// demo-tokens/ are what envoy-jwt.yaml's jwt_authn accepts: RS256
// signatures by a key of the inline JWKS, the provider's issuer and
// audience, a subject, and an expiry in the future.
func TestDemoTokensVerifyAgainstTheDemoJWKS(t *testing.T) {
	data, err := os.ReadFile("envoy-jwt.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := envoyconfig.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	var provider *jwtauthnv3.JwtProvider
	for _, chain := range httpFilterChains(t, b) {
		for _, f := range chain.hcm.GetHttpFilters() {
			var jwt jwtauthnv3.JwtAuthentication
			if f.GetTypedConfig().MessageIs(&jwt) {
				if err := f.GetTypedConfig().UnmarshalTo(&jwt); err != nil {
					t.Fatal(err)
				}
				provider = jwt.GetProviders()["demo_idp"]
			}
		}
	}
	if provider == nil {
		t.Fatal("envoy-jwt.yaml has no demo_idp provider")
	}
	keys := parseJWKS(t, provider.GetLocalJwks().GetInlineString())
	tokens, err := filepath.Glob(filepath.Join("demo-tokens", "*.jwt"))
	if err != nil || len(tokens) < 2 {
		t.Fatalf("want two demo tokens (two users), found %v (%v)", tokens, err)
	}
	subjects := map[string]bool{}
	for _, file := range tokens {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		claims, err := verifyRS256(strings.TrimSpace(string(raw)), keys)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if claims.Issuer != provider.GetIssuer() {
			t.Errorf("%s: iss %q, want %q", file, claims.Issuer, provider.GetIssuer())
		}
		if !slices.Contains(provider.GetAudiences(), claims.Audience) {
			t.Errorf("%s: aud %q not in %v", file, claims.Audience, provider.GetAudiences())
		}
		if claims.Subject == "" || subjects[claims.Subject] {
			t.Errorf("%s: sub %q is empty or repeated", file, claims.Subject)
		}
		subjects[claims.Subject] = true
		if time.Unix(claims.Expiry, 0).Before(time.Now().AddDate(1, 0, 0)) {
			t.Errorf("%s: expires %s, less than a year from now", file, time.Unix(claims.Expiry, 0))
		}
	}
	// A tampered token must not verify: the check above can fail.
	raw, _ := os.ReadFile(tokens[0])
	parts := strings.Split(strings.TrimSpace(string(raw)), ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"mallory"}`)) + "." + parts[2]
	if _, err := verifyRS256(forged, keys); err == nil {
		t.Error("a token with a changed payload verified")
	}
}

type jwtClaims struct {
	Issuer   string `json:"iss"`
	Audience string `json:"aud"`
	Subject  string `json:"sub"`
	Expiry   int64  `json:"exp"`
}

func parseJWKS(t *testing.T, jwks string) map[string]*rsa.PublicKey {
	t.Helper()
	var set struct {
		Keys []struct {
			Kty, Kid, Alg, N, E string
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(jwks), &set); err != nil {
		t.Fatalf("the inline JWKS is not JSON: %v", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		n, errN := base64.RawURLEncoding.DecodeString(k.N)
		e, errE := base64.RawURLEncoding.DecodeString(k.E)
		if k.Kty != "RSA" || k.Alg != "RS256" || errN != nil || errE != nil {
			t.Fatalf("JWKS key %q: want an RS256 RSA key with base64url n and e", k.Kid)
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	if len(keys) == 0 {
		t.Fatal("the inline JWKS has no key")
	}
	return keys
}

func verifyRS256(token string, keys map[string]*rsa.PublicKey) (jwtClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return jwtClaims{}, errors.New("not a JWS compact token")
	}
	var header struct{ Alg, Kid string }
	if err := decodeSegment(parts[0], &header); err != nil {
		return jwtClaims{}, fmt.Errorf("header: %w", err)
	}
	key := keys[header.Kid]
	if header.Alg != "RS256" || key == nil {
		return jwtClaims{}, fmt.Errorf("alg %q kid %q: no such RS256 key in the JWKS", header.Alg, header.Kid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return jwtClaims{}, fmt.Errorf("signature: %w", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return jwtClaims{}, fmt.Errorf("signature: %w", err)
	}
	var claims jwtClaims
	if err := decodeSegment(parts[1], &claims); err != nil {
		return jwtClaims{}, fmt.Errorf("claims: %w", err)
	}
	return claims, nil
}

func decodeSegment(seg string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// TestChecksCatchBrokenFiles feeds broken variants of envoy.yaml through
// the same checks, so that a check that cannot fail is noticed.
func TestChecksCatchBrokenFiles(t *testing.T) {
	good, err := os.ReadFile("envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) []byte {
		if !strings.Contains(string(good), old) {
			t.Fatalf("envoy.yaml no longer contains %q; update this test", old)
		}
		return []byte(strings.Replace(string(good), old, new, 1))
	}
	tests := []struct {
		name    string
		data    []byte
		stage   string // where it must fail: load, validate or plugin
		wantErr string
	}{
		{"unknown bootstrap field", replace("static_resources:", "static_resourcez: {}\nstatic_resources:"), "load", "static_resourcez"},
		{"unknown field inside a typed_config", replace("stat_prefix: mcp", "stat_prefix: mcp\n          stat_prefixx: mcp"), "load", "stat_prefixx"},
		{"unresolvable typed_config", replace("type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
			"type.googleapis.com/envoy.extensions.filters.http.router.v3.Routerr"), "load", "Routerr"},
		{"duplicate key", replace("stat_prefix: mcp", "stat_prefix: mcp\n          stat_prefix: other"), "load", "stat_prefix"},
		{"invalid port", replace("port_value: 10000", "port_value: 70000"), "validate", "PortValue"},
		{"invalid value inside a typed_config", replace("stat_prefix: mcp", `stat_prefix: ""`), "validate", "StatPrefix"},
		{"plugin refuses its configuration", replace(`"maxTokens": 100,`, `"maxTokens": 0,`), "plugin", "maxTokens"},
		{"plugin refuses an unknown field", replace(`"paths": ["/mcp"],`, `"path": ["/mcp"],`), "plugin", "path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := envoyconfig.Decode(tt.data)
			if tt.stage == "load" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("load error = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			err = envoyconfig.Validate(b)
			if tt.stage == "validate" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("validation error = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			var startErr error
			for _, chain := range httpFilterChains(t, b) {
				for _, w := range wasmFilters(t, chain.hcm) {
					cfg, err := pluginConfiguration(w.config)
					if err != nil {
						t.Fatal(err)
					}
					_, startErr = filtertest.Start(cfg, filtertest.Plugin{RootID: w.config.GetRootId()})
				}
			}
			if startErr == nil || !strings.Contains(startErr.Error(), tt.wantErr) {
				t.Fatalf("plugin start error = %v, want one naming %q", startErr, tt.wantErr)
			}
		})
	}
}
