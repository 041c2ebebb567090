//! Endpoint templates: a request path with its ids replaced by `{id}`, so that every record's
//! request counts under one endpoint — in Kaseya BMS's per-endpoint budget key and in the labels
//! of the request metrics, whose set of values must stay small and hold no record ids.

/// `/v2/crm/accounts/12` → `/v2/crm/accounts/{id}`; also for a key with a method in front
/// (`GET /v2/crm/accounts/12`). Id-like segments are: all digits (every vendor's record ids), a
/// GUID or other hex token (at least 8 hex digits and dashes, one of them a digit), and
/// percent-encoded text (a name or value in the path). Anything else is a word of the API
/// (`companies`, `v4_6_release`, `3.0`, `lookup`) and stays. A query is dropped.
pub(crate) fn template(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    path.split('/')
        .map(|segment| if is_id_like(segment) { "{id}" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

fn is_id_like(segment: &str) -> bool {
    let all_digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    let hex_token = segment.len() >= 8
        && segment.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && segment.bytes().any(|b| b.is_ascii_digit());
    all_digits || hex_token || segment.contains('%')
}

#[cfg(test)]
mod tests {
    use super::template;

    #[test]
    fn ids_become_id_and_the_api_words_stay() {
        assert_eq!(
            template("GET /v2/crm/accounts/12/locations/7"),
            "GET /v2/crm/accounts/{id}/locations/{id}"
        );
        assert_eq!(template("company/companies"), "company/companies");
        assert_eq!(template("organizations"), "organizations");
        assert_eq!(
            template("/CompanyWebhooks/3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
            "/CompanyWebhooks/{id}"
        );
        assert_eq!(
            template("/api/contacts/Ada%20Lovelace?activeOnly=true"),
            "/api/contacts/{id}"
        );
        assert_eq!(
            template("/v4_6_release/apis/3.0/system/members"),
            "/v4_6_release/apis/3.0/system/members"
        );
    }
}
