.PHONY: demo test bench chaos soak i18n
# Run the whole system on its embedded defaults with a simulated household
# (`make demo PORT=8080 MQTT_PORT=1884`; 0 picks a free port, printed in the banner).
demo:
	scripts/demo.sh $(if $(PORT),--port $(PORT)) $(if $(MQTT_PORT),--mqtt-port $(MQTT_PORT))
# Install everything the tests need (venv, Debian packages) and run the whole suite.
test:
	scripts/test.sh
# Run the benchmarks but the two longest (footprint, scale: `python -m bench --long`), the urgent path with a
# CPU hog included; each waits (bounded) for the load to drop and records load and CPU (bench/hygiene.py).
# One table in bench/results/latest.md and latest.json (`python -m bench --quick`: small sizes).
bench:
	scripts/bootstrap.sh test && .venv/bin/python -m bench
# The fault suite: every entry path (gateways, devices, Nightscout uploads) on the shipped broker
# while processes crash and a hostile device attacks; exit status = devices not stored exactly
# as sent (docs/RELIABILITY.md). Run by hand; tests/chaos/test_fault_suite.py is its CI size.
chaos:
	scripts/bootstrap.sh test && .venv/bin/python -m bench.chaos
# Load and soak: 2,000 patients at 60x real time for 10 minutes, then a 500-gateway burst.
soak:
	scripts/bootstrap.sh test && .venv/bin/python -m bench.soak
# Patient-facing text: extract into core/locale, update each language's catalogue, compile (docs/I18N.md).
i18n:
	scripts/i18n.sh
