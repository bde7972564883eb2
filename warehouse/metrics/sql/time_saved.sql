{# Time saved: one row per person in scope whose wave is live by the end of the week (or whose wave has no
   go-live date) and week; minutes is the person's mean answer that week, null when they gave none. #}
{% extends "_staff_weeks.sql" %}
{% block first_week %}{{ FIRST_RESPONSE_WEEK }}{% endblock %}
{% block last_week %}{{ LAST_RESPONSE_WEEK }}{% endblock %}
{% block ctes %},
minutes as (
    select staff_pseudonym, week_start, avg(minutes_saved_per_shift) as minutes
    from ({{ latest_form_responses() }}) f
    where minutes_saved_per_shift is not null
    group by staff_pseudonym, week_start
)
{% endblock %}
{% block columns %}m.minutes{% endblock %}
{% block joins %}left join minutes m on m.staff_pseudonym = s.pseudonym and m.week_start = k.week_start{% endblock %}
{% block where %}where w.go_live_date is null or w.go_live_date <= k.week_start + 6{% endblock %}
