"""Hearth on a 3-node RabbitMQ cluster (docs/DEPLOY.md, "A clustered broker"): gateways
and devices publishing themselves stream readings through real ``hearth ingest`` (and the
coach for two urgent lows) while one node is SIGKILLed mid-stream, started again, and
then another is SIGKILLed. Checked with the fault suite's accounting
(bench/chaos_check.py): every reading stored exactly once, under its patient; each
urgent low reaches the home display during the failover (latency printed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.cluster import Plan, markdown, run_failover
from tests.support.rabbitmq_cluster import installed

pytestmark = pytest.mark.slow


def test_no_reading_lost_or_duplicated_when_broker_nodes_die_mid_stream(
        tmp_path: Path) -> None:
    assert installed(), "rabbitmq-server missing: run scripts/system-packages.sh"
    plan = Plan.quick()
    report = run_failover(plan, tmp_path)
    sys.stdout.write(markdown(report, []) + "\n")  # shown with -s, and on failure

    kinds = [(e.kind, e.target) for e in report.events]
    assert kinds[:7] == [("stream_start", ""), ("broker_kill", "node-0"),
                         ("urgent_low", "urgent-0"), ("node_back", "node-0"),
                         ("broker_kill", "node-1"), ("urgent_low", "urgent-1"),
                         ("settled", "")], report.events
    # Both kills happen while the sources are still handing over readings.
    kills = [e.at_s for e in report.events if e.kind == "broker_kill"]
    assert max(kills) < plan.stream_s, report.events
    # The sessions that must survive are quorum queues with a replica on every node.
    for queue in ("mqtt-subscription-hearth-ingest-1qos1", "mqtt-subscription-hearth-coachqos1"):
        assert report.queues.get(queue) == 3, report.queues
    # ingest and the coach were on node 0, then on node 1: each failed over at each kill.
    assert set(report.reconnects) == {"hearth-ingest", "hearth-coach"}
    assert min(report.reconnects.values()) >= 2, report.reconnects

    assert not report.timed_out
    assert report.failing_devices == []
    assert report.paths["gateway"].sent == plan.readings
    assert report.paths["direct"].sent > 50
    for name in ("gateway", "direct", "urgent"):
        t = report.paths[name]
        assert (t.lost, t.not_sent, t.duplicated, t.wrong_patient, t.devices_wrong) == (
            0, 0, 0, 0, 0), name
        assert t.stored_rows == t.sent, name
    assert "other devices" not in report.paths
    # Each urgent low reached the home display, published the moment a node died.
    assert [u["patient"] for u in report.urgent] == ["urgent-0", "urgent-1"]
    assert all(u["latency_ms"] is not None for u in report.urgent), report.urgent
