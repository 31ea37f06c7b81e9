module github.com/alipaynotify/alipaynotify/e2e

go 1.26.0

require (
	github.com/alipaynotify/alipaynotify v0.0.0
	github.com/chromedp/chromedp v0.23.1
)

require (
	github.com/chromedp/cdproto v0.160.1 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace github.com/alipaynotify/alipaynotify => ../
