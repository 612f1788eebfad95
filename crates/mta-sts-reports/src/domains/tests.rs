use super::*;

#[test]
fn names_are_compared_as_lowercase_a_labels() {
    let filter = DomainFilter::from_names(["Example.COM.", "bücher.example"]).expect("valid");
    assert!(filter.accepts(&comparable("EXAMPLE.com")));
    assert!(filter.accepts(&comparable("example.com.")));
    assert!(filter.accepts(&comparable("BÜCHER.example")));
    assert!(filter.accepts(&comparable("xn--bcher-kva.example")));
    assert!(!filter.accepts(&comparable("example.org")));
    assert!(!filter.accepts(&comparable("sub.example.com")));
}

#[test]
fn no_names_accept_every_domain() {
    let filter = DomainFilter::from_names([]).expect("valid");
    assert!(filter.is_any());
    assert!(filter.accepts("anything.example"));
}

#[test]
fn a_name_that_is_no_domain_is_refused() {
    assert!(matches!(
        DomainFilter::from_names(["not a domain"]),
        Err(IntakeError::Domain { .. })
    ));
    assert!(matches!(
        DomainFilter::from_names(["192.0.2.1"]),
        Err(IntakeError::Domain { .. })
    ));
}
