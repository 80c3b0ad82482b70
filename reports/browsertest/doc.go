// Package browsertest opens the HTML report in headless Chromium (tests
// only). It lives apart from package reports so that the reports test
// binary, which FuzzDecode instruments, does not link chromedp.
package browsertest
