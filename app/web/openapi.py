"""The OpenAPI 3.1 document of /api/v1/, served at /api/v1/openapi.json and fuzzed by the tests.

Written by hand next to the code it describes; the schemas are strict (no unknown properties), so
any drift between the API and its document fails the schema tests.
"""
from __future__ import annotations

from typing import Any

from ..domain.pnr import JourneyClass, StatusCode

VERSION = "1.0.0"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or list(properties),
            "additionalProperties": False}


STRING = {"type": "string"}
DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}
POSITION = {"type": "integer", "minimum": 1}
PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}

SCHEMAS: dict[str, Any] = {
    "SeatStatus": _object({
        "code": {"type": "string", "enum": [c.value for c in StatusCode]},
        "text": {**STRING, "description": "As printed on a status page, e.g. GNWL 45, RAC 8 S9 23, CNF/B1/57/LB"},
        "position": {**_nullable(POSITION), "description": "Queue number, for WL and RAC only"},
        "coach": _nullable(STRING),
        "berth": _nullable(POSITION),
        "berth_code": _nullable(STRING),
        "waitlist_type": {**_nullable(STRING), "description": "GNWL, RLWL, PQWL, TQWL, ..."},
        "quota": _nullable(STRING),
    }),
    "Prediction": _object({
        "p_cnf": {**PROBABILITY, "description": "Probability of a confirmed berth at the final chart"},
        "p_rac": {**PROBABILITY, "description": "Probability of RAC at the final chart (0 in classes without RAC)"},
        "p_wl": {**PROBABILITY, "description": "Probability of still being waitlisted at the final chart"},
        "band": {"type": "string", "enum": ["likely", "uncertain", "unlikely"],
                 "description": "likely: p_cnf >= 0.70; unlikely: p_cnf < 0.30; uncertain between"},
        "expected_final": {"type": "string", "enum": ["CNF", "RAC", "WL"]},
        "expected_position": _nullable(POSITION),
    }),
    "Passenger": _object({
        "number": POSITION,
        "booking_status": {"$ref": "#/components/schemas/SeatStatus"},
        "current_status": {"$ref": "#/components/schemas/SeatStatus"},
        "prediction": {**_nullable({"$ref": "#/components/schemas/Prediction"}),
                       "description": "Only for passengers waitlisted before the chart, when the predictor answers"},
    }),
    "PnrStatus": _object({
        "pnr": {"type": "string", "pattern": "^[1-9][0-9]{9}$"},
        "train_number": STRING,
        "train_name": STRING,
        "journey_date": DATE,
        "from_station": STRING,
        "to_station": STRING,
        "journey_class": {"type": "string", "enum": [c.value for c in JourneyClass]},
        "quota": STRING,
        "chart_prepared": {"type": "boolean"},
        "passengers": {"type": "array", "items": {"$ref": "#/components/schemas/Passenger"}},
        "as_of": {**DATETIME, "description": "When this status was read from the source (UTC)"},
        "departure": _nullable(DATETIME),
        "chart_time": {**_nullable(DATETIME), "description": "When the final chart is (or was) due"},
        "boarding_point": _nullable(STRING),
        "reservation_upto": _nullable(STRING),
        "booking_date": _nullable(DATE),
        "train_cancelled": {"type": "boolean"},
    }),
    "HistoryEntry": _object({
        "as_of": DATETIME,
        "chart_prepared": {"type": "boolean"},
        "current_statuses": {"type": "array", "items": {"$ref": "#/components/schemas/SeatStatus"},
                             "description": "One per passenger, in passenger order"},
    }),
    "Lookup": _object({
        "pnr": {"$ref": "#/components/schemas/PnrStatus"},
        "prediction_available": {"type": "boolean"},
        "prediction_error": _nullable(STRING),
        "tracking_available": {"type": "boolean", "description": "False while the store is down"},
        "stale": {"type": "boolean", "description": "True when this is the last stored status (source down)"},
        "history": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryEntry"},
                    "description": "Every stored change, oldest first"},
    }),
    "Error": _object({
        "error": _object({"code": STRING, "message": STRING}),
    }),
    "SourceDown": _object(
        {"error": _object({"code": {"const": "source_unavailable"}, "message": STRING}),
         "last_known": {"$ref": "#/components/schemas/Lookup"}},
        required=["error"],
    ),
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def document() -> dict[str, Any]:
    """The OpenAPI document as a JSON-ready dict."""
    pnr_param = {
        "name": "pnr", "in": "path", "required": True,
        "description": "The 10-digit PNR printed on the ticket (first digit 1-9)",
        "schema": {"type": "string", "pattern": "^[1-9][0-9]{9}$"},
    }
    too_many = _error("Too many lookups from this address; wait for Retry-After seconds")
    too_many["headers"] = {"Retry-After": {"schema": {"type": "string"}, "description": "Seconds to wait"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pnr.me API",
            "version": VERSION,
            "description": "PNR status and the chance that a waitlisted ticket is confirmed by the final chart. "
                           "Errors are {error: {code, message}}. Lookups are rate limited per client address.",
        },
        "paths": {
            "/api/v1/pnr/{pnr}": {
                "get": {
                    "operationId": "getPnr",
                    "summary": "Status, chance of confirmation per passenger, and history of one PNR",
                    "parameters": [pnr_param],
                    "responses": {
                        "200": {"description": "The status now",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Lookup"}}}},
                        "400": _error("Not a PNR (code invalid_pnr); the message names the rule"),
                        "404": _error("No such PNR (code pnr_not_found): never booked, or flushed after the journey"),
                        "429": too_many,
                        "503": {"description": "The status source is down (code source_unavailable); "
                                               "last_known is the newest stored status when there is one",
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SourceDown"}}}},
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1",
                                          "content": {"application/json": {"schema": {"type": "object"}}}}},
                }
            },
        },
        "components": {"schemas": SCHEMAS},
    }
