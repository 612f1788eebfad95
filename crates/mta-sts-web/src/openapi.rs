//! The OpenAPI 3.1 description of the JSON API, written by hand: five routes do not need a
//! generator, and the text says what a generator could not (what each error code means).

use serde_json::{Value, json};

/// The document served at `/api/v1/openapi.json`.
pub(crate) fn document() -> Value {
    // The finding codes from the one typed list, so the document cannot drift from it.
    let codes: Vec<&str> = mta_sts_check::FindingCode::ALL
        .iter()
        .map(|code| code.as_str())
        .collect();
    // Separate values: one json! literal this size would pass the macro recursion limit.
    let status = json!({
        "type": "string",
        "enum": ["pass", "warn", "fail", "unknown"],
        "description": "The one status vocabulary of the report, for the verdict and for each section: `fail` with any error; else `unknown` when something could not be learnt; else `warn` with any warning; else `pass`."
    });
    let not_learnt = json!({
        "type": "object",
        "required": ["section", "what", "why"],
        "properties": {
            "section": { "type": "string", "enum": ["records", "policy", "mx-hosts", "tls-rpt"] },
            "what": { "type": "string", "description": "What could not be learnt (`the MX records of example.com`)." },
            "why": { "type": "string", "description": "Why (`the resolver did not answer in time`); for a person, may change." }
        }
    });
    let sections = json!({
        "type": "array",
        "description": "Each section's status, in report order, as the web page and the command line show it.",
        "items": {
            "type": "object",
            "required": ["section", "status"],
            "properties": {
                "section": { "type": "string", "enum": ["records", "policy", "mx-hosts", "tls-rpt"] },
                "status": { "$ref": "#/components/schemas/Status" }
            }
        }
    });
    let error = |description: &str| {
        json!({
            "description": description,
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
        })
    };
    let retry_after = json!({
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": { "type": "integer", "minimum": 1 }
        }
    });
    let mut rate_limited = error(
        "`rate-limited`: too many checks from this client; or `busy`: every check slot is taken.",
    );
    rate_limited["headers"] = retry_after;
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mta-sts web checker",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Audits a domain's MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) setup the way a sending mail server sees it. Findings have stable codes. Results are cached per domain for a short time; cached answers carry an `Age` header and do not count against the rate limit.",
            "license": { "name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0" }
        },
        "paths": {
            "/api/v1/check": {
                "get": {
                    "operationId": "check",
                    "summary": "Check one domain",
                    "description": "Returns the checker's report, the same JSON as `mta-sts check --json`.",
                    "parameters": [{
                        "name": "domain",
                        "in": "query",
                        "required": true,
                        "description": "The mail domain (the part after @), Unicode or A-labels; no scheme, path, port or IP address.",
                        "schema": { "type": "string", "maxLength": 1012 },
                        "example": "example.com"
                    }],
                    "responses": {
                        "200": {
                            "description": "The check ran; see `verdict` and `findings`.",
                            "headers": {
                                "Age": {
                                    "description": "Present when the report came from the cache: its age in seconds.",
                                    "schema": { "type": "integer", "minimum": 0 }
                                }
                            },
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CheckReport" } } }
                        },
                        "400": error("`domain-missing`: no domain given; `domain-invalid`: not a domain name (a URL, an address, a port, an IP address in any spelling, a control or invisible character, too long)."),
                        "429": rate_limited,
                        "504": error("`check-timeout`: the check ran past its time limit."),
                    }
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": { "200": { "description": "OpenAPI 3.1", "content": { "application/json": {} } } }
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Liveness",
                    "responses": { "200": { "description": "`ok`", "content": { "text/plain": { "schema": { "type": "string", "const": "ok" } } } } }
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics",
                    "description": "`mta_sts_checks_total{verdict}`, `mta_sts_check_duration_seconds`, `mta_sts_rejected_requests_total{reason=\"invalid|rate-limited|busy\"}`, `mta_sts_check_timeouts_total`, `mta_sts_cache_hits_total`.",
                    "responses": { "200": { "description": "OpenMetrics text", "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } } }
                }
            }
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {
                                    "type": "string",
                                    "enum": ["domain-missing", "domain-invalid", "rate-limited", "busy", "check-timeout", "not-found", "internal-error"]
                                },
                                "message": { "type": "string", "description": "For a person; may change." }
                            }
                        }
                    }
                },
                "Status": status,
                "NotLearnt": not_learnt,
                "Finding": {
                    "type": "object",
                    "required": ["section", "code", "severity", "message", "remediation"],
                    "properties": {
                        "section": { "type": "string", "enum": ["records", "policy", "mx-hosts", "tls-rpt"] },
                        "code": { "type": "string", "enum": codes, "description": "Stable, never renamed (`mx-not-in-policy`)." },
                        "severity": { "type": "string", "enum": ["error", "warning", "info"] },
                        "message": { "type": "string", "description": "What was found, naming the record, host or value." },
                        "remediation": { "type": "string", "description": "What to change." }
                    }
                },
                "CheckReport": {
                    "type": "object",
                    "required": ["domain", "verdict", "findings", "mx_hosts", "dane", "publish", "timings_ms", "outcome", "not_learnt", "sections"],
                    "properties": {
                        "domain": { "type": "string", "description": "The domain checked, in A-labels." },
                        "verdict": { "$ref": "#/components/schemas/Status" },
                        "findings": { "type": "array", "items": { "$ref": "#/components/schemas/Finding" }, "description": "Every finding, errors first within each section." },
                        "sts_record": { "type": ["object", "null"], "description": "The `_mta-sts` TXT record a sender would use." },
                        "policy": { "type": ["object", "null"], "description": "The policy as fetched: url, text, sha256, mode, max_age, mx, and how it was fetched." },
                        "policy_error": { "type": ["object", "null"], "description": "Why the policy fetch failed (`kind` names the failure)." },
                        "mx": { "type": ["object", "null"], "description": "The MX set: hosts by preference, and whether it is a null MX." },
                        "mx_hosts": { "type": "array", "items": { "type": "object" }, "description": "Each MX host as the SMTP probe saw it: address, STARTTLS, TLS session, certificate verdict, transcript." },
                        "tlsrpt_record": { "type": ["object", "null"], "description": "The `_smtp._tls` TXT record a reporter would use." },
                        "dane": { "type": "array", "description": "TLSA records found per MX host (RFC 7672)." },
                        "publish": {
                            "type": "object",
                            "description": "Records and the policy file to publish to clear the errors, where they can be derived.",
                            "properties": {
                                "sts_record": { "type": ["string", "null"] },
                                "policy": { "type": ["string", "null"] },
                                "tlsrpt_record": { "type": ["string", "null"] }
                            }
                        },
                        "timings_ms": { "type": "object", "description": "Milliseconds spent by part; the parts overlap." },
                        "outcome": { "type": "string", "enum": ["complete", "incomplete", "no-such-domain"], "description": "How far the check got: everything learnt; some lookups got no usable answer (see `not_learnt`); or the domain does not exist (NXDOMAIN), so nothing was checked." },
                        "not_learnt": { "type": "array", "items": { "$ref": "#/components/schemas/NotLearnt" }, "description": "What the check could not learn, and why. Nothing is judged about these parts: no finding blames the domain for them." },
                        "sections": sections,
                        "incomplete": { "type": ["string", "null"], "description": "Set when the check could not be completed (`outcome` is not `complete`): one sentence saying why." }
                    }
                }
            }
        }
    })
}
