"""The public API is pinned, and names say what they are: commands ask, events report."""

from __future__ import annotations

import re
from typing import get_args

import pytest

import contracts
from contracts import (
    COMMAND_TYPES,
    EVENT_TYPES,
    AddCard,
    AddColumn,
    AddMember,
    ArchiveBoard,
    ArchiveCard,
    ArchiveColumn,
    BoardArchived,
    BoardCreated,
    BoardRenamed,
    BoardRestored,
    CardAdded,
    CardArchived,
    CardEdited,
    CardMoved,
    CardRestored,
    ChangeMemberRole,
    ColumnAdded,
    ColumnArchived,
    ColumnMoved,
    ColumnRenamed,
    ColumnRestored,
    Contract,
    CreateBoard,
    EditCard,
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
    MoveCard,
    MoveColumn,
    RemoveMember,
    RenameBoard,
    RenameColumn,
    RestoreBoard,
    RestoreCard,
    RestoreColumn,
)
from contracts import commands as commands_module
from contracts import events as events_module

EXPECTED_API = {
    "BoardCounts",
    "BoardDetail",
    "BoardSummary",
    "BoardView",
    "CardView",
    "ColumnView",
    "MemberView",
    "AuthMessage",
    "ClientMessage",
    "ErrorMessage",
    "EventsMessage",
    "PingMessage",
    "PongMessage",
    "PresenceMessage",
    "ServerMessage",
    "SnapshotMessage",
    "SubscribeMessage",
    "UnsubscribeMessage",
    "Viewer",
    "client_message_adapter",
    "server_message_adapter",
    # commands
    "COMMAND_TYPES",
    "EDITABLE_CARD_FIELDS",
    "Command",
    "CreateBoard",
    "RenameBoard",
    "ArchiveBoard",
    "RestoreBoard",
    "AddColumn",
    "RenameColumn",
    "MoveColumn",
    "ArchiveColumn",
    "RestoreColumn",
    "AddCard",
    "EditCard",
    "MoveCard",
    "ArchiveCard",
    "RestoreCard",
    "AddMember",
    "ChangeMemberRole",
    "RemoveMember",
    "ChangeColumnWipLimit",
    "ChangeWipPolicy",
    # events
    "EVENT_TYPES",
    "Event",
    "CardField",
    "FieldChange",
    "Placement",
    "CardsRebalanced",
    "ColumnsRebalanced",
    "BoardCreated",
    "BoardRenamed",
    "BoardArchived",
    "BoardRestored",
    "ColumnAdded",
    "ColumnRenamed",
    "ColumnMoved",
    "ColumnArchived",
    "ColumnRestored",
    "CardAdded",
    "CardEdited",
    "CardMoved",
    "CardArchived",
    "CardRestored",
    "MemberAdded",
    "MemberProfile",
    "MemberRoleChanged",
    "MemberRemoved",
    "ColumnWipLimitChanged",
    "WipPolicyChanged",
    # envelopes
    "CommandEnvelope",
    "EventEnvelope",
    "AnyCommand",
    "AnyEvent",
    "TaggedCommand",
    "TaggedEvent",
    "TraceId",
    "command_adapter",
    "event_adapter",
    "events_adapter",
    "command_envelope",
    "event_envelope",
    # wire
    "CommandResult",
    "ErrorBody",
    "ErrorDetail",
    # fields
    "Contract",
    "Role",
    "BoardId",
    "CardId",
    "ColumnId",
    "UserId",
    "Title",
    "Description",
    "Label",
    "Labels",
    "Assignees",
    "OrderKey",
    "MAX_TITLE",
    "MAX_DESCRIPTION",
    "MAX_LABELS",
    "MAX_LABEL",
    "MAX_ASSIGNEES",
    "MAX_COLUMNS",
    "MAX_OPEN_CARDS",
    "MAX_USER_ID",
    "MAX_INT64",
    "Version",
    "EventVersion",
    "SchemaVersion",
    "Count",
    # streams
    "StreamKeys",
    "partition_of",
    "board_entry_id",
    "DEFAULT_PARTITIONS",
    "EVENT_FIELD",
    "BOARD_FIELD",
    "VERSION_FIELD",
    # comments
    "AddComment",
    "EditComment",
    "DeleteComment",
    "CommentAdded",
    "CommentEdited",
    "CommentDeleted",
    "CommentBody",
    "CommentId",
    "MAX_COMMENT",
    # checklists
    "AddChecklistItem",
    "RenameChecklistItem",
    "CheckChecklistItem",
    "UncheckChecklistItem",
    "MoveChecklistItem",
    "RemoveChecklistItem",
    "ChecklistItemAdded",
    "ChecklistItemRenamed",
    "ChecklistItemChecked",
    "ChecklistItemUnchecked",
    "ChecklistItemMoved",
    "ChecklistItemRemoved",
    "MAX_CHECKLIST_ITEMS",
    "MAX_CHECKLIST_TEXT",
    "ChecklistItemId",
    "ChecklistText",
    "ChecklistItemView",
    "ChecklistProgress",
}

VERBS = {
    "Create",
    "Rename",
    "Archive",
    "Restore",
    "Add",
    "Move",
    "Edit",
    "Change",
    "Remove",
    "Delete",
    "Check",
    "Uncheck",
}

# Events no command asks for by name: the server emits them to keep order keys short.
MAINTENANCE_EVENTS = (contracts.CardsRebalanced, contracts.ColumnsRebalanced)

EVENT_OF: dict[type[Contract], type[Contract]] = {
    CreateBoard: BoardCreated,
    RenameBoard: BoardRenamed,
    ArchiveBoard: BoardArchived,
    RestoreBoard: BoardRestored,
    AddColumn: ColumnAdded,
    RenameColumn: ColumnRenamed,
    MoveColumn: ColumnMoved,
    ArchiveColumn: ColumnArchived,
    RestoreColumn: ColumnRestored,
    AddCard: CardAdded,
    EditCard: CardEdited,
    MoveCard: CardMoved,
    ArchiveCard: CardArchived,
    RestoreCard: CardRestored,
    AddMember: MemberAdded,
    ChangeMemberRole: MemberRoleChanged,
    RemoveMember: MemberRemoved,
    contracts.AddComment: contracts.CommentAdded,
    contracts.EditComment: contracts.CommentEdited,
    contracts.DeleteComment: contracts.CommentDeleted,
    contracts.ChangeColumnWipLimit: contracts.ColumnWipLimitChanged,
    contracts.ChangeWipPolicy: contracts.WipPolicyChanged,
    contracts.AddChecklistItem: contracts.ChecklistItemAdded,
    contracts.RenameChecklistItem: contracts.ChecklistItemRenamed,
    contracts.CheckChecklistItem: contracts.ChecklistItemChecked,
    contracts.UncheckChecklistItem: contracts.ChecklistItemUnchecked,
    contracts.MoveChecklistItem: contracts.ChecklistItemMoved,
    contracts.RemoveChecklistItem: contracts.ChecklistItemRemoved,
}

_WORDS = re.compile(r"[A-Z][a-z]*")


def _name(model: type) -> str:
    return model.__name__


def _defined_in(module: object) -> set[type[Contract]]:
    return {
        value
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, Contract)
        and value.__module__ == getattr(module, "__name__", None)
        and not name.startswith("_")
    }


class TestPublicApi:
    def test_is_exactly_the_pinned_names(self) -> None:
        assert set(contracts.__all__) == EXPECTED_API

    def test_lists_each_name_once(self) -> None:
        assert len(contracts.__all__) == len(set(contracts.__all__))

    def test_names_only_what_the_package_has(self) -> None:
        assert [name for name in contracts.__all__ if not hasattr(contracts, name)] == []


class TestCommandNames:
    @pytest.mark.parametrize("command", COMMAND_TYPES, ids=_name)
    def test_start_with_an_imperative_verb(self, command: type[Contract]) -> None:
        assert _WORDS.findall(command.__name__)[0] in VERBS

    @pytest.mark.parametrize("command", COMMAND_TYPES, ids=_name)
    def test_are_not_suffixed(self, command: type[Contract]) -> None:
        assert not command.__name__.endswith(("Command", "Request"))


class TestEventNames:
    @pytest.mark.parametrize("event", EVENT_TYPES, ids=_name)
    def test_end_in_the_past_tense(self, event: type[Contract]) -> None:
        assert _WORDS.findall(event.__name__)[-1].endswith("ed")

    @pytest.mark.parametrize("event", EVENT_TYPES, ids=_name)
    def test_have_no_event_suffix(self, event: type[Contract]) -> None:
        assert "Event" not in event.__name__


class TestCommandsAndEvents:
    def test_every_command_has_its_own_event(self) -> None:
        assert set(EVENT_OF) == set(COMMAND_TYPES)
        assert set(EVENT_OF.values()) | set(MAINTENANCE_EVENTS) == set(EVENT_TYPES)
        assert len(set(EVENT_OF.values())) == len(EVENT_OF)

    def test_type_tuples_match_the_unions(self) -> None:
        assert get_args(contracts.Command) == COMMAND_TYPES
        assert get_args(contracts.Event) == EVENT_TYPES

    def test_every_command_model_is_a_command_type(self) -> None:
        assert _defined_in(commands_module) == set(COMMAND_TYPES)

    def test_every_event_model_is_an_event_type_or_a_part_of_one(self) -> None:
        assert _defined_in(events_module) == {
            *EVENT_TYPES,
            contracts.FieldChange,
            contracts.Placement,
            contracts.MemberProfile,
        }
