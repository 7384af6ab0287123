"""The FerretDB that `make run` and the tests start (built with deploy/ferretdb/patches) answers the
read side's lookups through its `_id` index, and still answers them right.

The plan is FerretDB's `explain` of `find`: SQLite's EXPLAIN QUERY PLAN of the query its backend
runs for that filter. `update`, `delete` and `findAndModify` read their documents through the same
backend query (FerretDB's explain of an `update` ignores its `q`, so an update's read side is shown
by the `find` of its filter); the write by `_id` that follows is covered by the patch's Go tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

Doc = dict[str, Any]

OID = ObjectId("6256c5ba0badc0ffee000001")
ODD = 'a<b>&"\\é🂡'  # what JSON escapes, and more than one byte per character

CARDS: list[Doc] = [
    {"_id": "card-1", "version": 1, "title": "one"},
    {"_id": "card-2", "version": 2, "title": "two"},
    {"_id": "card-3", "version": 3, "title": "three"},
    {"_id": OID, "version": 1, "title": "object id"},
    {"_id": 7, "version": 1, "title": "number"},
    {"_id": ODD, "version": 1, "title": "odd"},
]

# The three shapes the projector's read side relies on, with ObjectIds besides strings.
BY_ID: dict[str, Doc] = {
    "an id": {"_id": "card-2"},
    "an id and a version guard": {"_id": "card-2", "version": {"$lt": 3}},
    "an id and a guard, the id last": {"version": {"$lt": 3}, "title": "two", "_id": "card-2"},
    "ids": {"_id": {"$in": ["card-1", "card-3", "absent"]}},
    "an ObjectId": {"_id": OID},
    "ids and an ObjectId": {"_id": {"$in": ["card-1", OID]}},
    "an id of odd characters": {"_id": ODD},
    "a prefix range (a board's cards)": {"_id": {"$gte": "card-", "$lt": "card."}},
}
# SQLite's plan step for a lookup through the unique index FerretDB names `<table>__id_`.
ID_INDEX_SEARCH = re.compile(
    r"detail=SEARCH (\S+) USING INDEX \1__id_ \((<expr>=\?|<expr>>\? AND <expr><\?)\)$"
)
# Filters the patch leaves to FerretDB's own scan: they show that the plan check can fail.
NOT_BY_ID: dict[str, Doc] = {
    "no id": {"version": 1},
    "ids with a number": {"_id": {"$in": ["card-1", 7]}},
    "an id range": {"_id": {"$gt": "card-1"}},
    "a range wider than one prefix": {"_id": {"$gte": "card-", "$lt": "card0"}},
}


@pytest.fixture
async def cards(mongo: AsyncMongoClient[Doc], mongo_db_name: str) -> AsyncCollection[Doc]:
    collection = mongo[mongo_db_name]["cards"]
    await collection.insert_many([dict(card) for card in CARDS])
    return collection


async def explain_find(collection: AsyncCollection[Doc], query: Mapping[str, Any]) -> Doc:
    return await collection.database.command("explain", {"find": collection.name, "filter": query})


async def ids(collection: AsyncCollection[Doc], query: Mapping[str, Any]) -> list[Any]:
    return sorted([doc["_id"] async for doc in collection.find(query)], key=repr)


async def stored(collection: AsyncCollection[Doc]) -> list[Doc]:
    return sorted([doc async for doc in collection.find({})], key=lambda doc: repr(doc["_id"]))


class TestPlan:
    @pytest.mark.parametrize("query", BY_ID.values(), ids=list(BY_ID))
    async def test_a_find_by_id_searches_the_id_index(
        self, cards: AsyncCollection[Doc], query: Doc
    ) -> None:
        answer = await explain_find(cards, query)

        [step] = answer["queryPlanner"]["Plan"]
        assert ID_INDEX_SEARCH.search(step), step
        assert answer["filterPushdown"] is True

    @pytest.mark.parametrize("query", NOT_BY_ID.values(), ids=list(NOT_BY_ID))
    async def test_a_find_by_anything_else_scans(
        self, cards: AsyncCollection[Doc], query: Doc
    ) -> None:
        answer = await explain_find(cards, query)

        [step] = answer["queryPlanner"]["Plan"]
        assert not ID_INDEX_SEARCH.search(step), step
        assert "detail=SCAN " in step
        assert answer["filterPushdown"] is False


class TestPrefixRanges:
    async def test_a_prefix_range_answers_exactly_the_ids_that_start_with_it(
        self, mongo: AsyncMongoClient[Doc], mongo_db_name: str
    ) -> None:
        things = mongo[mongo_db_name]["things"]
        inside = ["p:", "p:1", 'p:2"\\', "p:\u00e9", "p:\n", "p:~~"]
        outside: list[Any] = [
            "p",
            "p;",
            "p9",
            "o:1",
            "",
            7,
            OID,
            ObjectId("703a00000000000000000000"),
        ]
        await things.insert_many([{"_id": i} for i in [*inside, *outside]])

        found = await ids(things, {"_id": {"$gte": "p:", "$lt": "p;"}})

        assert found == sorted(inside, key=repr)


class TestAnswers:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            (BY_ID["an id"], ["card-2"]),
            (BY_ID["an id and a version guard"], ["card-2"]),
            ({"_id": "card-2", "version": {"$lt": 2}}, []),
            ({"version": {"$lt": 2}, "_id": "card-2"}, []),
            (BY_ID["ids"], ["card-1", "card-3"]),
            ({"_id": {"$in": ["card-1", "card-3"]}, "version": 3}, ["card-3"]),
            ({"_id": {"$in": []}}, []),
            ({"_id": {"$in": ["absent"]}}, []),
            ({"_id": "absent"}, []),
            ({"_id": "absent", "version": 1}, []),
            (BY_ID["an ObjectId"], [OID]),
            (BY_ID["ids and an ObjectId"], ["card-1", OID]),
            ({"_id": str(OID)}, []),
            (BY_ID["an id of odd characters"], [ODD]),
            (NOT_BY_ID["ids with a number"], ["card-1", 7]),
            (NOT_BY_ID["no id"], ["card-1", 7, OID, ODD]),
        ],
        ids=repr,
    )
    async def test_find_answers_what_the_filter_selects(
        self, cards: AsyncCollection[Doc], query: Doc, expected: list[Any]
    ) -> None:
        assert await ids(cards, query) == sorted(expected, key=repr)

    async def test_a_guarded_update_whose_guard_fails_changes_nothing(
        self, cards: AsyncCollection[Doc]
    ) -> None:
        before = await stored(cards)

        result = await cards.update_one(
            {"_id": "card-2", "version": {"$lt": 2}}, {"$set": {"version": 2, "title": "late"}}
        )

        assert (result.matched_count, result.modified_count) == (0, 0)
        assert await stored(cards) == before

    async def test_a_guarded_update_whose_guard_holds_changes_that_document(
        self, cards: AsyncCollection[Doc]
    ) -> None:
        result = await cards.update_one(
            {"_id": "card-2", "version": {"$lt": 3}}, {"$set": {"version": 3}}
        )

        assert result.modified_count == 1
        assert await cards.find_one({"_id": "card-2"}) == {
            "_id": "card-2",
            "version": 3,
            "title": "two",
        }

    async def test_an_update_of_ids_applies_its_guard_to_each(
        self, cards: AsyncCollection[Doc]
    ) -> None:
        result = await cards.update_many(
            {"_id": {"$in": ["card-1", "card-2", "card-3", OID]}, "version": {"$lt": 2}},
            {"$inc": {"version": 10}},
        )

        assert result.modified_count == 2
        assert {doc["_id"]: doc["version"] async for doc in cards.find({})} == {
            "card-1": 11,
            "card-2": 2,
            "card-3": 3,
            OID: 11,
            7: 1,
            ODD: 1,
        }

    async def test_an_update_by_object_id_or_odd_id_finds_its_document(
        self, cards: AsyncCollection[Doc]
    ) -> None:
        for card_id in (OID, ODD):
            result = await cards.update_one(
                {"_id": card_id, "version": 1}, {"$set": {"version": 5}}
            )
            assert result.modified_count == 1, card_id

        assert await ids(cards, {"version": 5}) == sorted([OID, ODD], key=repr)

    async def test_a_missing_id_matches_nothing_and_changes_nothing(
        self, cards: AsyncCollection[Doc]
    ) -> None:
        before = await stored(cards)

        updated = await cards.update_one({"_id": "absent"}, {"$set": {"version": 9}})
        deleted = await cards.delete_one({"_id": "absent"})
        found = await cards.find_one_and_update({"_id": "absent"}, {"$set": {"version": 9}})

        assert (updated.matched_count, deleted.deleted_count, found) == (0, 0, None)
        assert await stored(cards) == before

    async def test_a_guarded_delete_whose_guard_fails_keeps_the_document(
        self, cards: AsyncCollection[Doc]
    ) -> None:
        kept = await cards.delete_one({"_id": "card-2", "version": {"$gt": 2}})
        gone = await cards.delete_one({"_id": "card-2", "version": 2})

        assert (kept.deleted_count, gone.deleted_count) == (0, 1)
        assert await cards.find_one({"_id": "card-2"}) is None
