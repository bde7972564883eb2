{# One row per form response with a non-empty comment; templates extending this fill in `columns`. #}
select r.week_start, {{ weeks_since_go_live("r.date") }} as weeks_since_go_live,
       r.org_unit, r.staff_group, r.system, r.go_live_wave, r.staff_pseudonym as subject,
       r.source as _src, r.response_id as _rid, {% block columns %}{% endblock %}

from ({{ latest_form_responses() }}) r
left join core.dim_wave w using (go_live_wave)
where r.comment is not null and btrim(r.comment) <> ''
