"""The metrics text: Prometheus exposition format 0.0.4, one gauge family per metric."""

from __future__ import annotations

from projector.read.metrics import PartitionLag, render


def test_renders_every_family_with_help_type_and_one_sample_per_partition() -> None:
    text = render(
        [PartitionLag(0, entries=0, seconds=0.0, dead_letters=0), PartitionLag(1, 12, 1.5, 2)],
        held=2,
        websockets=7,
    )
    lines = text.splitlines()
    assert text.endswith("\n")
    assert [line for line in lines if not line.startswith("#")] == [
        'cardstream_projector_lag_entries{partition="0"} 0',
        'cardstream_projector_lag_entries{partition="1"} 12',
        'cardstream_projector_lag_seconds{partition="0"} 0',
        'cardstream_projector_lag_seconds{partition="1"} 1.5',
        'cardstream_projector_dead_letters{partition="0"} 0',
        'cardstream_projector_dead_letters{partition="1"} 2',
        "cardstream_projector_partitions_held 2",
        "cardstream_projector_websocket_connections 7",
    ]
    families = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert families == [
        "cardstream_projector_lag_entries",
        "cardstream_projector_lag_seconds",
        "cardstream_projector_dead_letters",
        "cardstream_projector_partitions_held",
        "cardstream_projector_websocket_connections",
    ]
    assert all(line.endswith(" gauge") for line in lines if line.startswith("# TYPE"))
    assert sum(line.startswith("# HELP") for line in lines) == len(families)


def test_leaves_out_websocket_connections_when_unknown() -> None:
    text = render([PartitionLag(0, 0, 0.0, 0)], held=0)
    assert "websocket" not in text
