package docs_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/filtertest"
)

// TestReadmeConfiguration keeps the README's short configuration reference
// in step with the parser: every top-level field and every bucket field is
// named in it, and its JSON example is a configuration the parser accepts
// and the filter starts with. (docs/configuration.md holds the full,
// generated reference.)
func TestReadmeConfiguration(t *testing.T) {
	text, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(text)
	seen := map[string]bool{}
	for _, path := range config.FieldPaths() {
		// "tools[].perUser.refillPeriod" -> its last element.
		parts := strings.Split(strings.ReplaceAll(path, "[]", ""), ".")
		name := parts[len(parts)-1]
		if seen[name] {
			continue
		}
		seen[name] = true
		if !strings.Contains(readme, fmt.Sprintf("`%s`", name)) && !strings.Contains(readme, fmt.Sprintf(`"%s"`, name)) {
			t.Errorf("README.md does not mention the configuration field %q (%s)", name, path)
		}
	}
	if len(seen) < 10 {
		t.Fatalf("only %d field names from config.FieldPaths(): the test is not looking at the real list", len(seen))
	}
	examples := jsonBlock.FindAllStringSubmatch(readme, -1)
	if len(examples) == 0 {
		t.Fatal("README.md has no ```json configuration example")
	}
	for i, m := range examples {
		if _, err := config.Parse([]byte(m[1])); err != nil {
			t.Errorf("README.md example %d: the parser refuses it: %v", i, err)
		}
		if _, err := filtertest.Start([]byte(m[1]), filtertest.Plugin{RootID: "mcp-ratelimit"}); err != nil {
			t.Errorf("README.md example %d: the filter does not start with it: %v", i, err)
		}
	}
}
