"""The learned readiness score: trained on the source's own history (:mod:`.train`), judged on
later months it never saw against the hand rules (:mod:`.evaluate`), read by playbooks as the
``readiness`` signal (:mod:`headroom.signals.readiness`)."""
