package docs_test

import (
	"fmt"
	"os"
	pathpkg "path"
	"path/filepath"
	"regexp"
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

// folderCell matches a backquoted folder or file in the first column of
// the README's folder table.
var folderCell = regexp.MustCompile("`([^`]+)`")

// TestReadmeFolderTable keeps the README's folder table true to the tree:
// every folder or file it names exists, and every folder holding Go
// packages is in it, or in the README of the nearest folder it lists.
func TestReadmeFolderTable(t *testing.T) {
	text, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, found := strings.Cut(string(text), "| Folder | Job |\n")
	if !found {
		t.Fatal(`README.md has no "| Folder | Job |" table`)
	}
	table, _, _ = strings.Cut(table, "\n\n")
	listed := map[string]bool{}
	for _, row := range strings.Split(table, "\n") {
		cells := strings.Split(row, "|")
		if len(cells) < 3 || strings.HasPrefix(cells[1], "---") {
			continue
		}
		for _, m := range folderCell.FindAllStringSubmatch(cells[1], -1) {
			name := strings.TrimSuffix(m[1], "/")
			if _, err := os.Stat(filepath.Join("..", filepath.FromSlash(name))); err != nil {
				t.Errorf("README.md's folder table names %s, which does not exist", m[1])
			}
			listed[name] = true
		}
	}
	if len(listed) < 10 {
		t.Fatalf("found %d entries in README.md's folder table", len(listed))
	}
	err = filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != ".." && (name == "testdata" || name == "build" || name == "node_modules" ||
			strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if d.IsDir() || filepath.Ext(name) != ".go" {
			return nil
		}
		dir, _ := filepath.Rel("..", filepath.Dir(path))
		dir = filepath.ToSlash(dir)
		if dir == "." || listed[dir] {
			return nil
		}
		for parent := pathpkg.Dir(dir); parent != "."; parent = pathpkg.Dir(parent) {
			if !listed[parent] {
				continue
			}
			readme, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(parent), "README.md"))
			if err == nil && strings.Contains(string(readme), "`"+dir+"`") {
				return nil
			}
			break
		}
		t.Errorf("the Go package folder %s is not in README.md's folder table (nor in the README of a folder it lists)", dir)
		return filepath.SkipDir
	})
	if err != nil {
		t.Fatal(err)
	}
}
