package alipayops

import (
	_ "embed"
	"html/template"
)

// page.html holds every page of the ops page: one layout and a body per
// page, selected by view.Page. html/template escapes every value by its
// context; nothing is trusted as HTML.
//
//go:embed page.html
var pageHTML string

var templates = template.Must(template.New("page.html").Parse(pageHTML))
