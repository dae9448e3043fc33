package raftlite_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEveryExportedIdentifierIsDocumented reads every package of the module
// as pkg.go.dev would and fails for a package without a package comment, or
// an exported type, function, method, constant, variable or struct field
// without a doc comment.
func TestEveryExportedIdentifierIsDocumented(t *testing.T) {
	for dir, pkg := range modulePackages(t) {
		if pkg.Name == "main" {
			continue
		}
		missing := undocumented(pkg.fset, pkg.Package)
		if pkg.Doc == "" {
			missing = append(missing, "package "+pkg.Name)
		}
		for _, m := range missing {
			t.Errorf("%s: %s has no doc comment", dir, m)
		}
	}
}

type docPackage struct {
	*doc.Package
	fset *token.FileSet
}

// modulePackages parses the non-test files of every package in the module.
func modulePackages(t *testing.T) map[string]docPackage {
	t.Helper()
	pkgs := map[string]docPackage{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		fset := token.NewFileSet()
		parsed, err := parser.ParseDir(fset, path, func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ParseComments)
		if err != nil {
			return err
		}
		for _, p := range parsed {
			var files []*ast.File
			for _, f := range p.Files {
				files = append(files, f)
			}
			dp, err := doc.NewFromFiles(fset, files, "example.com/"+path)
			if err != nil {
				return err
			}
			pkgs[path] = docPackage{dp, fset}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func undocumented(fset *token.FileSet, p *doc.Package) []string {
	var out []string
	values := func(vs []*doc.Value) {
		for _, v := range vs {
			if v.Doc != "" {
				continue
			}
			for _, spec := range v.Decl.Specs {
				vs := spec.(*ast.ValueSpec)
				if vs.Doc != nil || vs.Comment != nil {
					continue
				}
				for _, n := range vs.Names {
					if n.IsExported() {
						out = append(out, n.Name)
					}
				}
			}
		}
	}
	values(p.Consts)
	values(p.Vars)
	for _, f := range p.Funcs {
		if f.Doc == "" {
			out = append(out, f.Name)
		}
	}
	for _, typ := range p.Types {
		if typ.Doc == "" {
			out = append(out, typ.Name)
		}
		values(typ.Consts)
		values(typ.Vars)
		for _, f := range append(typ.Funcs, typ.Methods...) {
			if f.Doc == "" && ast.IsExported(f.Name) {
				out = append(out, typ.Name+"."+f.Name)
			}
		}
		for _, spec := range typ.Decl.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok {
				continue
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			// A field is documented by its own comment, or by the comment
			// of the run of adjacent fields it belongs to.
			documented, prevEnd := false, -1
			for _, field := range st.Fields.List {
				line := fset.Position(field.Pos()).Line
				if field.Doc != nil {
					line = fset.Position(field.Doc.Pos()).Line
				}
				documented = field.Doc != nil || field.Comment != nil || (documented && line == prevEnd+1)
				prevEnd = fset.Position(field.End()).Line
				if documented {
					continue
				}
				for _, n := range field.Names {
					if n.IsExported() {
						out = append(out, typ.Name+"."+n.Name)
					}
				}
			}
		}
	}
	return out
}

// TestDocCodeIsCompiled: every code block in a doc comment is, line for
// line, code in a test file of the same package (an Example, usually),
// so that it compiles and shows the API as it is.
func TestDocCodeIsCompiled(t *testing.T) {
	for dir, pkg := range modulePackages(t) {
		if pkg.Name == "main" {
			continue
		}
		var code []string
		tests, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		for _, name := range tests {
			src, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(src), "\n") {
				code = append(code, strings.TrimSpace(line))
			}
		}
		for _, doc := range docComments(pkg.Package) {
			for _, block := range codeBlocks(doc) {
				if !isGo(block) {
					continue // a shell command, a config file
				}
				if !containsRun(code, block) {
					t.Errorf("%s: a code block in a doc comment is not code of a test file:\n\t%s", dir, strings.Join(block, "\n\t"))
				}
			}
		}
	}
}

func docComments(p *doc.Package) []string {
	docs := []string{p.Doc}
	for _, v := range append(p.Consts, p.Vars...) {
		docs = append(docs, v.Doc)
	}
	for _, f := range p.Funcs {
		docs = append(docs, f.Doc)
	}
	for _, typ := range p.Types {
		docs = append(docs, typ.Doc)
		for _, f := range append(typ.Funcs, typ.Methods...) {
			docs = append(docs, f.Doc)
		}
	}
	return docs
}

// codeBlocks returns the indented blocks of a doc comment, each line trimmed.
func codeBlocks(doc string) [][]string {
	var blocks [][]string
	var cur []string
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "\t") {
			cur = append(cur, strings.TrimSpace(line))
			continue
		}
		if len(cur) > 0 && line != "" {
			blocks, cur = append(blocks, cur), nil
		}
	}
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}
	return blocks
}

func containsRun(code, block []string) bool {
	for i := range code {
		if len(code)-i >= len(block) && slices.Equal(code[i:i+len(block)], block) {
			return true
		}
	}
	return false
}

// isGo reports whether block parses as Go statements or declarations.
func isGo(block []string) bool {
	src := strings.Join(block, "\n")
	fset := token.NewFileSet()
	if _, err := parser.ParseFile(fset, "", "package p\nfunc _() {\n"+src+"\n}", 0); err == nil {
		return true
	}
	_, err := parser.ParseFile(fset, "", "package p\n"+src, 0)
	return err == nil
}
