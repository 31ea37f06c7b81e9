package alipaynotify_test

import (
	"os"
	"regexp"
	"testing"
)

// TestReadmeSnippets keeps every program shown in README.md identical to a
// file that the build compiles (marked "<!-- readme-file: path -->").
func TestReadmeSnippets(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- readme-file: (\\S+) -->\n```go\n(.*?)```")
	matches := re.FindAllSubmatch(readme, -1)
	if len(matches) == 0 {
		t.Fatal("README shows no program")
	}
	for _, m := range matches {
		path, block := string(m[1]), string(m[2])
		file, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if string(file) != block {
			t.Errorf("README's copy of %s differs from the file: update one of them", path)
		}
	}
}
