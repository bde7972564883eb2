{# Training coverage: per person in scope and week, completed is 1 from the week of their first completed or
   passed required course on. Required: the configured course list when it is not empty, otherwise the
   record's own `required` flag. Read over all history, not early-filtered: a course completed before the
   recomputed weeks still counts in them. #}
{% extends "_staff_weeks.sql" %}
{% block first_week %}{{ FIRST_TRAINING_WEEK }}{% endblock %}
{% block last_week %}{{ LAST_DATA_WEEK }}{% endblock %}
{% block ctes %},
required_done as (
    select t.staff_pseudonym, min(t.week_start) as done_week
    from research.training_records t
    where t.verb in ('completed', 'passed') and {{ subject_filter("t.staff_pseudonym") }}
      and case when cardinality(cast(:required_courses as text[])) > 0
               then t.course_id = any(cast(:required_courses as text[]))
               else coalesce(t.required, false) end
    group by t.staff_pseudonym
)
{% endblock %}
{% block columns %}coalesce(c.done_week <= k.week_start, false)::int as completed{% endblock %}
{% block joins %}left join required_done c on c.staff_pseudonym = s.pseudonym{% endblock %}
