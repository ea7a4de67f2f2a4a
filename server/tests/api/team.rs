//! Teams: invitations, seats, roles, and who may do what.

use crate::helpers::{TestApp, form_error, join};
use app::error::AppError;
use sqlx::PgPool;
use uuid::Uuid;

async fn user_id(pool: &PgPool, email: &str) -> String {
    // language=PostgreSQL
    sqlx::query_scalar!("select user_id from app_user where email = $1", email)
        .fetch_one(pool)
        .await
        .unwrap()
        .to_string()
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_invitee_without_an_account_joins_through_the_link(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "professional").await;

    let mut bob = join(&app, &mut owner, "bob@acme.test", "member").await;

    let home = bob.get("/app").await;
    assert!(
        home.body.contains("Acme") && home.body.contains("bob@acme.test (member)"),
        "{}",
        home.body
    );
    let team = owner.get("/app/team").await;
    assert!(team.body.contains("data-member=\"bob@acme.test\""));
    assert!(team.body.contains("2 of 25 seats used"));
    // language=PostgreSQL
    let verified = sqlx::query_scalar!(
        "select email_verified_at is not null from app_user where email = 'bob@acme.test'"
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(verified, Some(true), "the link proved the address");
    // The link is single use.
    let link = app.link_in_email("bob@acme.test", "invitation").await;
    assert!(
        app.browser()
            .get(&link)
            .await
            .body
            .contains("expired, was withdrawn or was already used")
    );
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn an_invitee_with_an_account_signs_in_to_accept(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "professional").await;
    let mut bob = app.signed_up("bob@forge.test", "Forge", "starter").await;
    owner
        .submit(
            "/api/invite_member",
            &[("email", "bob@forge.test"), ("role", "admin")],
        )
        .await;
    let link = app.link_in_email("bob@forge.test", "invitation").await;
    let token = link.split("token=").nth(1).unwrap().to_owned();

    let anonymous = app
        .browser()
        .submit("/api/accept_invitation", &[("token", &token)])
        .await;
    assert!(matches!(form_error(&anonymous), AppError::Conflict(m) if m.contains("sign in")));
    assert!(bob.get(&link).await.body.contains("Join Acme"));
    let accepted = bob.submit("/api/accept_invitation", &[("token", &token)]).await;

    assert_eq!(accepted.headers["location"], "/app?joined=1");
    assert!(bob.get("/app").await.body.contains("bob@forge.test (admin)"));
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn invitations_past_the_seat_limit_are_refused_with_the_limit_named(pool: PgPool) {
    // Starter includes 3 users: the owner and two more.
    let app = TestApp::spawn(pool).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    join(&app, &mut owner, "bob@acme.test", "member").await;
    owner
        .submit(
            "/api/invite_member",
            &[("email", "cy@acme.test"), ("role", "member")],
        )
        .await;

    let refused = owner
        .submit(
            "/api/invite_member",
            &[("email", "dee@acme.test"), ("role", "member")],
        )
        .await;

    let AppError::InvalidForm { errors, .. } = form_error(&refused) else {
        panic!()
    };
    assert!(
        errors[0].message.contains("Your plan includes 3 users"),
        "{}",
        errors[0].message
    );
    let team = owner.get("/app/team").await;
    assert!(team.body.contains("3 of 3 seats used"));
    assert!(team.body.contains("href=\"/pricing\""), "links to upgrading");
    assert!(app.emails_to("dee@acme.test").await.is_empty());
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn concurrent_invitations_cannot_overshoot_the_seat_limit(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let owner = app.signed_up("ada@acme.test", "Acme", "starter").await;
    let cookie = owner.cookie.clone();

    // Ten invitations at once for the two free seats.
    let attempts = (0..10).map(|i| {
        let mut browser = app.browser();
        browser.cookie = cookie.clone();
        async move {
            let email = format!("user{i}@acme.test");
            browser
                .call(
                    "/api/invite_member",
                    &[("email", email.as_str()), ("role", "member")],
                )
                .await
                .status
        }
    });
    let statuses = futures::future::join_all(attempts).await;

    assert_eq!(
        statuses.iter().filter(|s| s.as_u16() == 200).count(),
        2,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| s.as_u16() == 200 || s.as_u16() == 422),
        "{statuses:?}"
    );
    // language=PostgreSQL
    let open = sqlx::query_scalar!(r#"select count(*) as "n!" from invitation"#)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(open, 2);
}

#[sqlx::test(migrator = "server::MIGRATOR")]
async fn roles_decide_who_changes_the_team(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "professional").await;
    let mut admin = join(&app, &mut owner, "ad@acme.test", "admin").await;
    let mut member = join(&app, &mut owner, "mem@acme.test", "member").await;
    let owner_id = user_id(&pool, "ada@acme.test").await;
    let member_id = user_id(&pool, "mem@acme.test").await;
    let admin_id = user_id(&pool, "ad@acme.test").await;

    // Members cannot invite or remove.
    assert_eq!(
        member
            .call(
                "/api/invite_member",
                &[("email", "x@acme.test"), ("role", "member")]
            )
            .await
            .status,
        403
    );
    assert_eq!(
        member
            .call(
                "/api/remove_member",
                &[("user_id", &admin_id), ("confirm", "yes")]
            )
            .await
            .status,
        403
    );
    // Admins cannot touch the owner, nor make owners.
    assert_eq!(
        admin
            .call(
                "/api/remove_member",
                &[("user_id", &owner_id), ("confirm", "yes")]
            )
            .await
            .status,
        403
    );
    assert_eq!(
        admin
            .call("/api/change_role", &[("user_id", &member_id), ("role", "owner")])
            .await
            .status,
        403
    );
    assert_eq!(
        admin
            .call(
                "/api/invite_member",
                &[("email", "x@acme.test"), ("role", "owner")]
            )
            .await
            .status,
        403
    );
    // Admins can promote a member.
    assert_eq!(
        admin
            .call("/api/change_role", &[("user_id", &member_id), ("role", "admin")])
            .await
            .status,
        200
    );
    // The last owner can neither leave nor be demoted.
    assert_eq!(
        owner
            .call("/api/leave_organization", &[("confirm", "yes")])
            .await
            .status,
        409
    );
    assert_eq!(
        owner
            .call("/api/change_role", &[("user_id", &owner_id), ("role", "admin")])
            .await
            .status,
        409
    );
    // Ownership moves; then the old owner may leave.
    assert_eq!(
        owner
            .call("/api/transfer_ownership", &[("user_id", &admin_id)])
            .await
            .status,
        200
    );
    assert!(owner.get("/app").await.body.contains("ada@acme.test (admin)"));
    assert_eq!(
        owner
            .call("/api/leave_organization", &[("confirm", "yes")])
            .await
            .status,
        200
    );
    assert_eq!(
        owner.get("/app").await.status,
        303,
        "signed out: no organisation left"
    );
    // The new owner removes the promoted member.
    assert_eq!(
        admin
            .call(
                "/api/remove_member",
                &[("user_id", &member_id), ("confirm", "yes")]
            )
            .await
            .status,
        200
    );
    assert_eq!(
        member.get("/app").await.status,
        403,
        "still signed in (not sent to sign in)…"
    );
    assert!(
        member
            .get("/app")
            .await
            .body
            .contains("This page could not be loaded"),
        "…but no longer a member"
    );
    // Bad identifiers are input errors, not crashes.
    assert_eq!(
        admin
            .call(
                "/api/remove_member",
                &[("user_id", "not-a-uuid"), ("confirm", "yes")]
            )
            .await
            .status,
        422
    );
    assert_eq!(
        admin
            .call("/api/change_role", &[("user_id", &admin_id), ("role", "emperor")])
            .await
            .status,
        422
    );
}

/// Every organisation endpoint tried as anonymous, as an owner of another
/// organisation, as a plain member and as the owner.
#[sqlx::test(migrator = "server::MIGRATOR")]
async fn tenancy_matrix(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let mut owner = app.signed_up("ada@acme.test", "Acme", "professional").await;
    let mut member = join(&app, &mut owner, "mem@acme.test", "member").await;
    join(&app, &mut owner, "target@acme.test", "member").await;
    owner
        .submit(
            "/api/invite_member",
            &[("email", "pending@acme.test"), ("role", "member")],
        )
        .await;
    let mut outsider = app.signed_up("eve@other.test", "Other", "professional").await;
    let mut anonymous = app.browser();
    let target = user_id(&pool, "target@acme.test").await;
    // language=PostgreSQL
    let invitation =
        sqlx::query_scalar!("select invitation_id from invitation where email = 'pending@acme.test'")
            .fetch_one(&pool)
            .await
            .unwrap()
            .to_string();

    // Expected statuses as [anonymous, outsider, member, owner].
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, [u16; 4]);
    let writes: Vec<Case> = vec![
        (
            "/api/invite_member",
            vec![("email", "new@acme.test"), ("role", "member")],
            [401, 200, 403, 200],
        ),
        (
            "/api/change_role",
            vec![("user_id", &target), ("role", "admin")],
            [401, 404, 403, 200],
        ),
        (
            "/api/revoke_invitation",
            vec![("invitation_id", &invitation)],
            [401, 404, 403, 200],
        ),
        (
            "/api/transfer_ownership",
            vec![("user_id", &target)],
            [401, 404, 403, 200],
        ),
        // By now ownership moved to the target: removing an owner is for owners only.
        (
            "/api/remove_member",
            vec![("user_id", &target), ("confirm", "yes")],
            [401, 404, 403, 403],
        ),
    ];
    for (endpoint, fields, expected) in &writes {
        let mut actual = [0u16; 4];
        for (slot, browser) in [&mut anonymous, &mut outsider, &mut member, &mut owner]
            .into_iter()
            .enumerate()
        {
            actual[slot] = browser.call(endpoint, fields).await.status.as_u16();
        }
        assert_eq!(
            &actual, expected,
            "{endpoint} as [anonymous, outsider, member, owner]"
        );
    }

    // Reads are scoped: the outsider sees only its own organisation.
    for endpoint in ["/api/overview", "/api/team"] {
        assert_eq!(anonymous.fetch(endpoint).await.status, 401, "{endpoint}");
        let theirs = outsider.fetch(endpoint).await;
        assert_eq!(theirs.status, 200, "{endpoint}");
        for ours in [
            "Acme",
            "ada@acme.test",
            "mem@acme.test",
            "target@acme.test",
            "pending@acme.test",
        ] {
            assert!(
                !theirs.body.contains(ours),
                "{endpoint} leaks {ours}: {}",
                theirs.body
            );
        }
        let ours = member.fetch(endpoint).await;
        assert!(ours.body.contains("acme.test"), "{endpoint}");
    }
    for page in ["/app", "/app/team", "/app/account"] {
        let response = anonymous.get(page).await;
        assert_eq!(response.status, 303, "{page}");
        assert_eq!(response.headers["location"], format!("/login?next={page}"));
    }
    // A made-up invitation id is simply not found.
    let unknown = Uuid::new_v4().to_string();
    assert_eq!(
        owner
            .call("/api/revoke_invitation", &[("invitation_id", &unknown)])
            .await
            .status,
        404
    );
}
