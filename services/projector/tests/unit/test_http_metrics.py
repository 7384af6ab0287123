"""The metrics text: Prometheus exposition format 0.0.4, one gauge family per metric."""

from __future__ import annotations

from projector.read.metrics import PartitionLag, render


def test_renders_every_family_with_help_type_and_one_sample_per_partition() -> None:
    text = render(
        [PartitionLag(0, entries=0, seconds=0.0, dead_letters=0), PartitionLag(1, 12, 1.5, 2)],
        applied={1},
        appliers=3,
        tailed={0},
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
        "cardstream_projector_partitions_held 1",
        'cardstream_projector_partition_applied{partition="0"} 0',
        'cardstream_projector_partition_applied{partition="1"} 1',
        "cardstream_projector_appliers 3",
        'cardstream_projector_partition_tailed{partition="0"} 1',
        'cardstream_projector_partition_tailed{partition="1"} 0',
        "cardstream_projector_websocket_connections 7",
    ]
    families = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert families == [
        "cardstream_projector_lag_entries",
        "cardstream_projector_lag_seconds",
        "cardstream_projector_dead_letters",
        "cardstream_projector_partitions_held",
        "cardstream_projector_partition_applied",
        "cardstream_projector_appliers",
        "cardstream_projector_partition_tailed",
        "cardstream_projector_websocket_connections",
    ]
    assert all(line.endswith(" gauge") for line in lines if line.startswith("# TYPE"))
    assert sum(line.startswith("# HELP") for line in lines) == len(families)


def test_leaves_out_the_websocket_tier_of_a_process_that_does_not_serve() -> None:
    text = render([PartitionLag(0, 0, 0.0, 0)], applied=set(), appliers=1)
    assert "websocket" not in text
    assert "tailed" not in text
