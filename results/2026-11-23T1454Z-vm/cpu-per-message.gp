set title "Server CPU per message at a fixed 10,000 msgs/s (100 connections; blocking: 1,000 msgs/s on 1)\n{/*0.8 AMD EPYC, 2 CPUs, Linux 6.18.44-fc-v657, 2026-11-23 14:54 UTC}"
set xlabel ""
set ylabel "CPU-us per message"
set grid
set key inside top left box opaque
set border 3
set tics nomirror
set style fill solid 0.8 border -1
set boxwidth 0.6
set grid noxtics
set xtics ("blocking" 0, "spin" 1, "select" 2, "poll" 3, "epoll" 4, "threads" 5, "fork" 6)
set xrange [-0.6:6.6]
set yrange [0:*]
unset key
set terminal pngcairo size 800,500 font 'sans,10'
set output 'cpu-per-message.png'
plot 'cpu-per-message.dat' index 0 using 1:2 with boxes lc rgb '#000000' title 'blocking', \
     'cpu-per-message.dat' index 0 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 1 using 1:2 with boxes lc rgb '#e69f00' title 'spin', \
     'cpu-per-message.dat' index 1 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 2 using 1:2 with boxes lc rgb '#56b4e9' title 'select', \
     'cpu-per-message.dat' index 2 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 3 using 1:2 with boxes lc rgb '#009e73' title 'poll', \
     'cpu-per-message.dat' index 3 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 4 using 1:2 with boxes lc rgb '#0072b2' title 'epoll', \
     'cpu-per-message.dat' index 4 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 5 using 1:2 with boxes lc rgb '#d55e00' title 'threads', \
     'cpu-per-message.dat' index 5 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 6 using 1:2 with boxes lc rgb '#cc79a7' title 'fork', \
     'cpu-per-message.dat' index 6 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle
set terminal svg size 800,500 font 'sans,10' dynamic
set output 'cpu-per-message.svg'
replot
