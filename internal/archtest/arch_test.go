package archtest

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Dir        string
	Name       string
	Doc        string
	Imports    []string
	Deps       []string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "ipcs/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 8 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func under(path string, roots ...string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

// TestDependencyArrows enforces DESIGN.md's dependency rule on the full
// (transitive) dependency lists.
func TestDependencyArrows(t *testing.T) {
	forbidden := map[string][]string{
		// The money and scheduling core knows nothing of transports.
		"ipcs/rating":    {"ipcs/switch", "ipcs/signaling", "ipcs/api", "ipcs/ledger", "ipcs/scheduler", "github.com/emiago/sipgo", "github.com/pion", "github.com/gorilla/websocket"},
		"ipcs/ledger":    {"ipcs/switch", "ipcs/signaling", "ipcs/api", "ipcs/scheduler", "github.com/emiago/sipgo", "github.com/pion", "github.com/gorilla/websocket"},
		"ipcs/scheduler": {"ipcs/switch", "ipcs/signaling", "ipcs/api", "ipcs/ledger", "github.com/emiago/sipgo", "github.com/pion", "github.com/gorilla/websocket"},
		// The call switch and the visit relay never import each other.
		"ipcs/switch":    {"ipcs/signaling", "ipcs/api", "github.com/pion", "github.com/gorilla/websocket"},
		"ipcs/signaling": {"ipcs/switch", "ipcs/api", "github.com/emiago/sipgo"},
		"ipcs/metrics":   {"ipcs/"},
		"ipcs/internal":  {"ipcs/rating", "ipcs/ledger", "ipcs/scheduler", "ipcs/switch", "ipcs/signaling", "ipcs/api", "ipcs/metrics"},
	}
	for _, p := range listPackages(t) {
		for root, bans := range forbidden {
			if !under(p.ImportPath, root) {
				continue
			}
			for _, dep := range p.Deps {
				for _, ban := range bans {
					if strings.HasSuffix(ban, "/") && strings.HasPrefix(dep, ban) || under(dep, ban) {
						t.Errorf("%s depends on %s (forbidden by DESIGN.md)", p.ImportPath, dep)
					}
				}
			}
		}
	}
}

// TestPackageDocs checks every package has a package comment.
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment", p.ImportPath)
		}
	}
}

// TestClockAndRegistryRules walks every non-test Go file: only
// internal/clock (and the test helpers) may read the wall clock or make
// timers, and nothing registers on Prometheus's global registry.
func TestClockAndRegistryRules(t *testing.T) {
	clockFuncs := map[string]bool{"Now": true, "Sleep": true, "NewTimer": true, "AfterFunc": true, "After": true, "Tick": true, "NewTicker": true, "Since": true, "Until": true}
	for _, p := range listPackages(t) {
		exempt := under(p.ImportPath, "ipcs/internal/clock", "ipcs/internal/testutil")
		for _, f := range p.GoFiles {
			path := filepath.Join(p.Dir, f)
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fset := token.NewFileSet()
			file, err := parser.ParseFile(fset, path, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			timeName, promName := "", ""
			for _, imp := range file.Imports {
				name := ""
				if imp.Name != nil {
					name = imp.Name.Name
				}
				switch strings.Trim(imp.Path.Value, `"`) {
				case "time":
					timeName = orDefault(name, "time")
				case "github.com/prometheus/client_golang/prometheus":
					promName = orDefault(name, "prometheus")
				}
			}
			ast.Inspect(file, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				x, ok := sel.X.(*ast.Ident)
				if !ok {
					return true
				}
				if !exempt && timeName != "" && x.Name == timeName && clockFuncs[sel.Sel.Name] {
					t.Errorf("%s: time.%s outside internal/clock; take a clock.Clock", fset.Position(sel.Pos()), sel.Sel.Name)
				}
				if promName != "" && x.Name == promName && (sel.Sel.Name == "MustRegister" || sel.Sel.Name == "Register") {
					t.Errorf("%s: global Prometheus registration; use metrics.New", fset.Position(sel.Pos()))
				}
				return true
			})
		}
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
