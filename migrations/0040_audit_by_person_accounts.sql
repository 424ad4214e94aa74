-- An operation on an account (`record_account`, resource_type 'account': closed, deactivated) names
-- that account in resource_id, where no actor or subject column does. The copy sorted by person
-- files such an event under that account too (kind 'account'), so that a subject's export and
-- erasure reach all of a person's audit rows through the sorting key, and reads by person (kinds
-- 'actor' and 'subject') are unchanged.
--
-- MODIFY QUERY swaps the view's query in place: no insert falls between an old view and a new one.
ALTER TABLE ${db}.audit_by_person_mv ${on_cluster} MODIFY QUERY
SELECT k.1 AS kind, k.2 AS key, event_id, event_time, received_at, platform, organisation, actor_account_id,
       actor_profile_id, actor_role, admin_operation, subject_id, action, route, resource_type, resource_id, method,
       status, outcome, duration_ms, client_ip, peer_ip, user_agent, browser, browser_version, os, device, is_bot,
       request_id, trace_id, span_id, details, retention_days, payload_sha256
FROM ${db}.audit_events
ARRAY JOIN arrayDistinct(arrayFilter(x -> x.2 != '', [
    ('actor', actor_account_id), ('actor', actor_profile_id), ('subject', subject_id),
    ('account', if(resource_type = 'account', resource_id, ''))
])) AS k;

-- Events stored before: those the view has not filed yet.
INSERT INTO ${db}.audit_by_person
SELECT 'account', resource_id, event_id, event_time, received_at, platform, organisation, actor_account_id,
       actor_profile_id, actor_role, admin_operation, subject_id, action, route, resource_type, resource_id, method,
       status, outcome, duration_ms, client_ip, peer_ip, user_agent, browser, browser_version, os, device, is_bot,
       request_id, trace_id, span_id, details, retention_days, payload_sha256
FROM ${db}.audit_events FINAL
WHERE resource_type = 'account' AND resource_id != ''
  AND event_id NOT IN (SELECT event_id FROM ${db}.audit_by_person WHERE kind = 'account');
