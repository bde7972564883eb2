-- Which alerts are open, what is being done about them, and did earlier actions work?
-- For: programme teams, matrons, service desk managers
-- Columns: alert_id, message, alert_status, opened_at, action_id, action, owner, due_date, action_status, overdue, before_value, after_value, change, improved
--
-- Every alert (open first) with its actions. Before and after are the mean weekly value of the alert's
-- metric and segment over the four weeks before and from the action date; `improved` says whether the
-- change went the better way. Record actions with `realise actions add`.
select a.alert_id, a.message, a.status as alert_status, a.opened_at,
       x.action_id, x.description as action, x.owner, x.due_date, x.status as action_status, x.overdue,
       round(x.before_value::numeric, 1) as before_value, round(x.after_value::numeric, 1) as after_value,
       round(x.change::numeric, 1) as change, x.improved
from analytics.alerts a
left join analytics.actions x using (alert_id)
order by a.status = 'open' desc, a.opened_at desc, a.alert_id, x.action_id;
