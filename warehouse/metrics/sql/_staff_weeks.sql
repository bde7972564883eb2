{# One row per person in scope (alias s) and week (alias k) from the first week to the last, early-filtered.
   A row's week since go-live is that of the week's last day (Sunday). Templates extending this fill in the
   blocks: first_week and last_week (SQL), ctes (further CTEs, each after a comma), columns, joins, where. #}
with staff as (select * from ({{ STAFF_IN_SCOPE }}) p where {{ subject_filter("p.pseudonym") }}),
weeks as (
    select generate_series(greatest(b.first_week, cast(:_since as date)), b.last_week,
                           interval '7 days')::date as week_start
    from (select {% block first_week %}{% endblock %} as first_week, {% block last_week %}{% endblock %} as last_week) b
    where b.first_week is not null
){% block ctes %}{% endblock %}

select k.week_start, {{ weeks_since_go_live("(k.week_start + 6)") }} as weeks_since_go_live,
       s.org_unit, s.staff_group, s.system, s.go_live_wave, s.pseudonym as subject,
       {%+ block columns %}{% endblock %}

from staff s
cross join weeks k
left join core.dim_wave w on w.go_live_wave = s.go_live_wave
{% block joins %}{% endblock %}

{% block where %}{% endblock %}
