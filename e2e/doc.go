// Package e2e holds the tests that drive a real browser (headless Chromium,
// through chromedp) against the ops page. It is a Go module of its own so
// that the library's go.mod never gains a browser dependency; the project's
// test command (scripts/test.sh) installs Debian's chromium and runs it.
package e2e
