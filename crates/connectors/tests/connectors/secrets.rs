//! Credentials never show up in `Debug` of a config, a client or an error, nor in an error's
//! message — checked after failed authentication, where secrets are most likely to leak.

use base64::Engine;
use syncbridge_connectors::{
    AutotaskClient, AutotaskConfig, BmsClient, BmsConfig, BmsFlavor, ConnectWiseClient,
    ConnectWiseConfig, Error, ItGlueClient, ItGlueConfig, PsaClient, TigerpawClient,
    TigerpawConfig,
};
use syncbridge_model::Entity;

use crate::common::*;

fn assert_hidden(secrets: &[&str], shown: &str) {
    for s in secrets {
        assert!(!shown.contains(s), "secret {s:?} leaked into {shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_debug_or_errors() {
    let (itg, cw, at) = (
        itglue_sim().await,
        connectwise_sim().await,
        autotask_sim().await,
    );

    // Wrong credentials: the calls fail with a typed auth error.
    let itg_bad = ItGlueConfig {
        http: fast_policy(),
        ..ItGlueConfig::new(itg.base_url(), "itg-WRONG-key-1")
    };
    let itg_client = ItGlueClient::new(itg_bad.clone()).unwrap();
    let itg_err = itg_client.get(Entity::Organization, "1").await.unwrap_err();
    assert!(
        matches!(itg_err, Error::Auth { status: 403 }),
        "{itg_err:?}"
    );
    let shown = format!("{itg_bad:?} {itg_client:?} {itg_err:?} {itg_err}");
    assert_hidden(&["itg-WRONG-key-1"], &shown);

    let cw_bad = ConnectWiseConfig {
        http: fast_policy(),
        ..ConnectWiseConfig::new(
            cw.api_url(),
            "acme",
            "cw-public",
            "cw-WRONG-private",
            "cw-client-XYZ",
        )
    };
    let basic = base64::engine::general_purpose::STANDARD.encode("acme+cw-public:cw-WRONG-private");
    let cw_client = PsaClient::ConnectWise(ConnectWiseClient::new(cw_bad.clone()).unwrap());
    let cw_err = cw_client.get(Entity::Organization, "1").await.unwrap_err();
    assert!(matches!(cw_err, Error::Auth { status: 401 }), "{cw_err:?}");
    let shown = format!("{cw_bad:?} {cw_client:?} {cw_err:?} {cw_err}");
    assert_hidden(&["cw-WRONG-private", "cw-client-XYZ", &basic], &shown);

    let at_bad = AutotaskConfig::new(
        at.api_url(),
        "syncbridge@example.com",
        "at-WRONG-secret",
        "TRACKING-WRONG",
        AT_RESOURCE,
    );
    let at_client = PsaClient::Autotask(AutotaskClient::new(at_bad.clone()).unwrap());
    let at_err = at_client.get(Entity::Organization, "1").await.unwrap_err();
    assert!(matches!(at_err, Error::Auth { status: 401 }), "{at_err:?}");
    let shown = format!("{at_bad:?} {at_client:?} {at_err:?} {at_err}");
    assert_hidden(&["at-WRONG-secret", "TRACKING-WRONG"], &shown);

    let bms = bms_sim(false).await;
    let bms_bad = BmsConfig::new(
        bms.base_url(),
        BmsFlavor::KaseyaBms,
        "syncbridge",
        "bms-WRONG-pass",
        "acme",
    );
    let bms_client = PsaClient::KaseyaBms(BmsClient::new(bms_bad.clone()).unwrap());
    let bms_err = bms_client.get(Entity::Organization, "1").await.unwrap_err();
    assert!(
        matches!(bms_err, Error::Auth { status: 401 }),
        "{bms_err:?}"
    );
    let shown = format!("{bms_bad:?} {bms_client:?} {bms_err:?} {bms_err}");
    assert_hidden(&["bms-WRONG-pass"], &shown);
    bms.shutdown().await;

    let tp = tigerpaw_sim().await;
    let tp_bad = TigerpawConfig::new(tp.base_url(), "tp-public", "tp-WRONG-private");
    let tp_client = PsaClient::Tigerpaw(TigerpawClient::new(tp_bad.clone()).unwrap());
    let tp_err = tp_client.get(Entity::Organization, "1").await.unwrap_err();
    assert!(matches!(tp_err, Error::Auth { status: 401 }), "{tp_err:?}");
    let shown = format!("{tp_bad:?} {tp_client:?} {tp_err:?} {tp_err}");
    assert_hidden(&["tp-WRONG-private"], &shown);
    tp.shutdown().await;

    // Working credentials after calls and errors of other kinds.
    let good_itg = itglue_client(&itg, fast_policy());
    let nf = good_itg.get(Entity::Organization, "42").await;
    assert_eq!(nf, Ok(None));
    let good_cw = connectwise_client(&cw, fast_policy());
    let rejected = good_cw
        .create(Entity::Organization, None, &syncbridge_model::Values::new())
        .await
        .unwrap_err();
    assert!(
        matches!(rejected, Error::Rejected { status: 400, .. }),
        "{rejected:?}"
    );
    let good_at = autotask_client(&at, fast_policy());
    let shown = format!("{good_itg:?} {good_cw:?} {good_at:?} {rejected:?} {rejected}");
    assert_hidden(
        &[
            "itg-test-key",
            "cw-private",
            "test-client-id",
            "at-secret",
            "TRACKING-ID",
        ],
        &shown,
    );

    itg.shutdown().await;
    cw.shutdown().await;
    at.shutdown().await;
}
