package raftlite_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
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
