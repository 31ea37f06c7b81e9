module github.com/alipaynotify/alipaynotify/bench

go 1.26.0

require (
	github.com/alipaynotify/alipaynotify v0.0.0
	github.com/go-pay/gopay v1.5.123
	github.com/redis/go-redis/v9 v9.23.0
	github.com/smartwalle/alipay/v3 v3.2.30
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-pay/crypto v0.0.3 // indirect
	github.com/go-pay/xlog v0.0.3 // indirect
	github.com/go-pay/xtime v0.0.2 // indirect
	github.com/smartwalle/ncrypto v1.0.4 // indirect
	github.com/smartwalle/ngx v1.1.1 // indirect
	github.com/smartwalle/nsign v1.0.9 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace github.com/alipaynotify/alipaynotify => ../
